// Injected into a copy of report.html by tests/test_report.py: after the charts have drawn,
// checks that every chart has a visible title inside its chart that no menu, toolbar, legend
// or annotation overlaps, and that no menu overlaps a toolbar; writes the findings as JSON
// into a pre element with id layout-check, which `chromium --dump-dom` prints.
function _box(el){const r=el.getBoundingClientRect();return {x0:r.left,y0:r.top,x1:r.right,y1:r.bottom,w:r.width,h:r.height};}
function _hit(a,b){return a.w>0&&a.h>0&&b.w>0&&b.h>0&&a.x0<b.x1-1&&b.x0<a.x1-1&&a.y0<b.y1-1&&b.y0<a.y1-1;}
function layoutCheck(){
  const out=[];
  document.querySelectorAll('.plotly-graph-div').forEach(div=>{
    const d=_box(div), r={id:div.id, problems:[]};
    const t=div.querySelector('.gtitle');
    if(!t||!t.textContent.trim()){r.problems.push('no title');out.push(r);return;}
    r.title=t.textContent; const tb=_box(t);
    if(tb.w<=0||tb.h<=0) r.problems.push('title has no size');
    if(tb.x0<d.x0-1||tb.x1>d.x1+1||tb.y0<d.y0-1||tb.y1>d.y1+1) r.problems.push('title outside its chart');
    const others=[];
    div.querySelectorAll('.updatemenu-header-group, .updatemenu-button').forEach(m=>others.push(['menu',m]));
    div.querySelectorAll('.modebar').forEach(m=>others.push(['toolbar',m]));
    div.querySelectorAll('.legend').forEach(m=>others.push(['legend',m]));
    div.querySelectorAll('.annotation').forEach(m=>others.push(['annotation',m]));
    for(const [k,el] of others){ if(_hit(tb,_box(el))) r.problems.push('title overlaps '+k); }
    const menus=others.filter(o=>o[0]=='menu'), bars=others.filter(o=>o[0]=='toolbar');
    for(const [,m] of menus) for(const [,b] of bars) if(_hit(_box(m),_box(b))) r.problems.push('menu overlaps toolbar');
    const st=getComputedStyle(t.querySelector('text')||t);
    if(st.visibility==='hidden'||st.display==='none'||st.opacity==='0'||st.fillOpacity==='0') r.problems.push('title not shown');
    out.push(r);
  });
  const pre=document.createElement('pre'); pre.id='layout-check'; pre.textContent=JSON.stringify(out);
  document.body.appendChild(pre);
}
window.addEventListener('load',()=>setTimeout(layoutCheck,3000));
