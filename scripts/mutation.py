"""Mutation testing: would the tests notice the mistakes that matter? (Not run in CI.)

Two parts, one time budget:

1. Hand-written mutants (``MUTANTS``): the compiled kernels (engine/kernels.py, numba code
   that mutmut's trampolines cannot wrap), and the bugs planted by hand in issue #17, some
   made the same way in the kernels and in the per-event reference (the tests' oracle).
   Each one is applied to a scratch copy of src/ and tests/, never to the worktree.
2. mutmut over the functions that decide outcomes (``MUTMUT``), each module with its
   own small test selection, in a scratch copy with a ``[tool.mutmut]`` section.

Hypothesis runs derandomised (CI=1) so a mutant's verdict is reproducible, and without shrinking
(SOCIALRATING_MUTATION=1, tests/conftest.py): the verdict needs a failure, not the smallest one.

    python scripts/mutation.py                      # everything, within --budget seconds
    python scripts/mutation.py --part hand --which  # hand mutants: every test that fails
    python scripts/mutation.py --part mutmut --only engine/score.py

Writes mutation-report.json (per mutant / per module) and prints the scores.

Scores. A mutmut mutant is caught when the module's test selection fails ("killed",
"timeout", "segfault" or "suspicious": the tests crashed or aborted the interpreter);
"survived" and "no tests" (no test of the selection reaches the mutated function) count as
not caught. A survivor that cannot change any output is equivalent: it is listed in
``EQUIVALENT`` below with the reason (matched on the exact line mutmut changed, so an
edited source line brings its mutants back for judging) and left out of the score:
score = caught / (checked - equivalent). The report keeps both figures.

Equivalent kinds found so far (details and reasons in ``EQUIVALENT``):
- ``dtype=np.int64`` dropped or set to None where numpy's default integer is int64 anyway
  (64-bit platforms), and int32/float64 intermediates that are cast right after
  (engine/dates.py, engine/scales.py);
- a lookup table one row longer than needed (never indexed);
- apply_scale's choice between two paths that give equal scores (speed only);
- the message of an unreachable ``AssertionError`` or of an internal invariant's assert;
- a library default written out or dropped (``how="inner"``, ``side="left"``, difflib's
  cutoff, pydantic's ``by_alias``), codec names in another case, dead code (``_months``);
- SQL keywords and unquoted identifiers upper- or lower-cased (store.verify's queries):
  DuckDB and PostgreSQL fold them, the query is the same;
- engine/compiled.py and engine/score.py: dtypes numpy or polars infer anyway, or that are
  cast right after; a clip the model's bounds never reach; stand-ins for empty tables and
  for the via of a direct row, which never show in the output;
- engine/ledger.py: a dense-index shortcut made impossible (the search gives the same
  positions), dtypes numpy infers anyway or that are cast right after, the cap totals'
  chunking, a sort kind spelled in capitals.
Survivors that are real and not yet killed are printed and written to the report.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
ENGINE_TESTS = ["tests/test_cases.py", "tests/test_boundaries.py", "tests/test_since_until_oracle.py", "tests/test_score_api.py",
                "tests/test_kernels.py", "tests/test_properties.py", "tests/test_expiry.py"]
WIDE_TESTS = ENGINE_TESTS + ["tests/test_recourse.py", "tests/test_monthly.py", "tests/test_contest.py"]

K = "src/socialrating/engine/kernels.py"
REF = "src/socialrating/engine/reference.py"

# id, what it models, [(file, old text, new text)] (every occurrence is replaced), tests,
# and for an equivalent mutant the reason it cannot be caught.
MUTANTS: list[dict] = [
    # -- the bugs planted in issue #17 -------------------------------------------------
    dict(id="issue-1-until-ignores-entry-end", edits=[
        (K, "lvl = min(end, _month_clamp(", "lvl = (0 * end + _month_clamp(")]),
    dict(id="issue-2-not-in-register-unmarked", tests=["tests/test_quarantine_reasons.py", "tests/test_linkage.py"],
         edits=[("src/socialrating/identity/linkage.py",
                "fail = np.where(not_found, np.int8(_FAILURES.index(NOT_IN_REGISTER)), fail)", "pass")]),
    dict(id="issue-3-four-fifths-0.75", tests=["tests/test_fourfifths.py", "tests/test_audit.py"],
         edits=[("src/socialrating/audit/groups.py", "FOUR_FIFTHS = 0.8", "FOUR_FIFTHS = 0.75")]),
    dict(id="issue-4-row-hash-without-expires_on", tests=["tests/test_row_hash.py", "tests/test_store.py"],
         edits=[("src/socialrating/store/ledger_store.py", "        for c, t in SCHEMA.items():\n            txt",
                 "        for c, t in SCHEMA.items():\n            if c == 'expires_on':\n                continue\n"
                 "            txt")]),
    dict(id="issue-5-counts-on-expiry-day", edits=[
        (K, "ex = np.int8(expires[_u(e)] <= asof)", "ex = np.int8(expires[_u(e)] < asof)"),
        (REF, "    if end is not None and end <= as_of:", "    if end is not None and end < as_of:")]),
    dict(id="issue-6-valid-from-exclusive", edits=[
        (K, "vfrom[_u(r)] <= o < vuntil[_u(r)]", "vfrom[_u(r)] < o < vuntil[_u(r)]"),
        (REF, "(r.valid_from and day < r.valid_from)", "(r.valid_from and day <= r.valid_from)")]),
    dict(id="issue-7-closure-a-day-late", edits=[
        (K, "- 2**31 + within", "- 2**31 + within + 1"),
        (REF, "dt.timedelta(days=cl.within_days)", "dt.timedelta(days=cl.within_days + 1)")]),
    dict(id="issue-8-level-window-a-month-short", edits=[
        ("src/socialrating/engine/score.py", "window_after(asof, rs.level_window_months)",
         "window_after(asof, rs.level_window_months - 1)"),
        ("src/socialrating/engine/spells.py", "len(cp.flag_types), rs.level_window_months,",
         "len(cp.flag_types), rs.level_window_months - 1,"),
        (REF, "as_of < _add_months(day, rs.level_window_months)", "as_of < _add_months(day, rs.level_window_months - 1)")]),
    # -- compiled kernels: one slip each ------------------------------------------------
    dict(id="k-valid-until-inclusive", edits=[(K, "<= o < vuntil[_u(r)]", "<= o <= vuntil[_u(r)]")]),
    dict(id="k-expiry-a-month-late", edits=[(K, "k = mi_t[_u(d)] + m - m_lo", "k = mi_t[_u(d)] + m + 1 - m_lo")]),
    dict(id="k-expiry-no-month-end-clamp", edits=[
        (K, "return first + (dom if dom < length else length - 1)", "return first + dom")]),
    dict(id="k-per-unit-floor-not-trunc", edits=[(K, "v = np.trunc(amount[_u(i)] * per_unit[_u(r)])",
                                                  "v = np.floor(amount[_u(i)] * per_unit[_u(r)] - 0.5)")]),
    dict(id="k-amount-zero-refused", edits=[(K, "or not (a >= 0)", "or not (a > 0)")]),
    dict(id="k-closed-state-a-day-late", edits=[(K, "(closed[_u(e)] <= asof) &", "(closed[_u(e)] < asof) &")]),
    dict(id="k-closure-after-expiry-wins", edits=[(K, "if when < closed[_u(e)] and when < expires[_u(e)]:",
                                                   "if when < closed[_u(e)]:")]),
    dict(id="k-closure-before-entry-counts", edits=[(K, "if key_close[_u(mid)] < key:", "if key_close[_u(mid)] < key - 1:")]),
    dict(id="k-level-window-inclusive", edits=[(K, "np.int64(occ[_u(e)] > window_after)",
                                                "np.int64(occ[_u(e)] >= window_after)")]),
    dict(id="k-flags-ignore-counting", edits=[(K, "flags[_u(f), _u(c)] += w", "flags[_u(f), _u(c)] += 1")]),
    dict(id="k-timeline-end-is-expiry-only", edits=[(K, "s_end[_u(j)] = min(expires[_u(e)], closed[_u(e)])",
                                                     "s_end[_u(j)] = expires[_u(e)]")]),
    dict(id="k-timeline-window-a-month-short", edits=[(K, "k = mi_t[_u(d)] + window - m_lo",
                                                       "k = mi_t[_u(d)] + window - 1 - m_lo")]),
    dict(id="k-spell-since-on-as-of-excluded", edits=[(K, "if row_day[_u(i)] <= asof:", "if row_day[_u(i)] < asof:")],
         equivalent="spells are read only for citizens the condition holds for on as_of, so a row on as_of "
                    "holds: taken as past it leaves since as it is or sets it to its own day, which the "
                    "row before it has already done; taken as future it cannot set until"),
    dict(id="k-spell-since-is-failing-day", edits=[(K, "since[_u(c)] = row_day[_u(i + 1)]",
                                                    "since[_u(c)] = row_day[_u(i)]")]),
    dict(id="k-cap-cut-off-by-one", edits=[(K, "(min(cum, lim[_u(k)]) - min(cum - v, lim[_u(k)]))",
                                            "(min(cum, lim[_u(k)] - 1) - min(cum - v, lim[_u(k)] - 1))")]),
    dict(id="k-cap-previous-use-ignored", tests=ENGINE_TESTS + ["tests/test_monthly.py"],  # monthly carries cap use
         edits=[(K, "cum = used[_u(k), _u(c)]", "cum = 0 * used[_u(k), _u(c)]")]),
    dict(id="k-cap-over-at-the-cap", edits=[(K, "+ used[_u(k), _u(c)] > lim[_u(k)]", "+ used[_u(k), _u(c)] >= lim[_u(k)]")],
         equivalent="a group whose total equals the cap is cut to exactly what it has: cap_points "
                    "leaves every entry as it was, so the ledger cannot differ"),
    dict(id="k-entry-id-slot-dropped", edits=[(K, "entry_id[_u(e)] = (row[_u(e)] + offset) * (1 << slot_bits) + slot[_u(e)]",
                                               "entry_id[_u(e)] = (row[_u(e)] + offset) * (1 << slot_bits)")]),
    dict(id="k-unknown-citizen-accepted", edits=[(K, "            if c < 0:\n                why = 3",
                                                  "            if c < -1:\n                why = 3")]),
]

# module -> (tests, mutmut mutant-name globs: the functions that decide outcomes)
FAST_ENGINE = ["tests/test_cases.py", "tests/test_boundaries.py", "tests/test_expiry.py", "tests/test_score_api.py",
               "tests/test_since_until_oracle.py"]
# module -> (tests, mutmut mutant-name globs: the functions that decide outcomes), most
# decisive first (the time budget is shared out in this order)
# extra pytest arguments for a module's selection. The ledger store's functions under test
# are backend-independent Python and SQL (the PostgreSQL-only code is not mutated), and a
# throwaway PostgreSQL server per mutant costs seconds each: DuckDB runs them.
PYTEST_ARGS: dict[str, list[str]] = {"store/ledger_store.py": ["-k", "not postgres and not both_backends"]}
MUTMUT: dict[str, tuple[list[str], list[str]]] = {
    "engine/score.py": (["tests/test_mutants_score.py"] + FAST_ENGINE, ["*"]),
    "engine/compiled.py": (["tests/test_mutants_compiled.py", "tests/test_compiled_policy.py"] + FAST_ENGINE, ["*"]),
    # the functions that decide an entry's points, state, citizen or quarantine reason (the
    # rest builds Arrow columns and the output frame, pinned byte for byte by the golden runs)
    "engine/ledger.py": (["tests/test_mutants_ledger.py", "tests/test_compiled_policy.py"] + FAST_ENGINE,
                         [f"x_{f}__mutmut_*" for f in ("apply_caps", "_over_cap", "apply_closures", "type_lookup",
                                                       "citizen_index", "citizen_lookup", "_counts_and_quarantine",
                                                       "entry_states", "accepted_citizen_index", "date_tables")]),
    # every function of groups.py decides a figure, a flag or the order; test_audit.py's synthetic
    # runs take minutes per mutant, and test_mutants_groups.py works the same figures by hand
    "audit/groups.py": (["tests/test_mutants_groups.py", "tests/test_fourfifths.py"], ["*"]),
    "store/ledger_store.py": (["tests/test_mutants_ledger_store.py", "tests/test_row_hash.py", "tests/test_store.py",
                               "tests/test_store_layout.py"],
                              ["*verify*", "*canonical*", "*append_entries*", "*block_digest*", "*change_hash*",
                               "*tag_sql*", "*_upgrade*", "*_entries_ddl*", "*_entry_columns*", "*_not_stored*",
                               "*_staged_schema*"]),
    "engine/evaluate.py": (FAST_ENGINE + ["tests/test_condition_kinds.py"], ["*"]),
    # since/until's timeline (the per-holder walk is in the kernels) and the month-by-month engine
    "engine/spells.py": (["tests/test_mutants_spells.py", "tests/test_mutants_score.py"] + FAST_ENGINE, ["*"]),
    "engine/monthly.py": (["tests/test_mutants_monthly.py", "tests/test_monthly.py"] + FAST_ENGINE, ["*"]),
    # the checks every events table passes, and the refusal of out-of-scope categories
    "engine/events.py": (["tests/test_mutants_events.py", "tests/test_cases.py"], ["*"]),
    "policy/refused.py": (["tests/test_mutants_events.py", "tests/test_cases.py", "tests/test_policy_errors.py"],
                          ["*"]),
    # what a citizen is told: each entry, each consequence, and the smallest change that lifts it
    "engine/explain.py": (["tests/test_mutants_explain.py", "tests/test_recourse.py", "tests/test_properties.py"], ["*"]),
    "engine/recourse.py": (["tests/test_mutants_recourse.py", "tests/test_mutants_explain.py", "tests/test_recourse.py",
                            "tests/test_properties.py"], ["*"]),
    "identity/linkage.py": (["tests/test_mutants_linkage.py", "tests/test_quarantine_reasons.py", "tests/test_linkage.py"],
                            ["*x__deterministic__*", "*x__finish__*"]),
    "engine/scales.py": (["tests/test_mutants_scales.py", "tests/test_scales.py"] + FAST_ENGINE, ["*"]),
    "engine/dates.py": (["tests/test_mutants_dates.py"] + FAST_ENGINE, ["*"]),
    "policy/conditions.py": (["tests/test_mutants_conditions.py"] + FAST_ENGINE
                             + ["tests/test_policy_errors.py", "tests/test_condition_kinds.py"], ["*"]),
    # test_contest.py's run-folder fixtures take minutes to map per run; its read_states and
    # shard_bounds cases are repeated (and extended) in test_mutants_contest.py
    "store/contest.py": (["tests/test_mutants_contest.py"],
                         ["*read_states*", "*overrides_frame*", "*shard_bounds*"]),
    "policy/model.py": (["tests/test_mutants_policy_model.py", "tests/test_policy_errors.py"], ["*"]),
    "policy/load.py": (["tests/test_mutants_policy_load.py", "tests/test_policy_errors.py"], ["*"]),
}


# mutmut survivors judged equivalent: reason -> (module, line removed, line added), each line
# as mutmut shows it, stripped. A survivor is counted as equivalent only if its diff matches
# a pair here exactly, so a changed source line brings its mutants back for judging.
_DA = "engine/dates.py"
_ARANGE_D = 'd = np.arange(lo, hi + 1, dtype=np.int64).astype("datetime64[D]")'
_ARANGE_M = 'starts = np.arange(mlo, mhi + 2, dtype=np.int64).astype("datetime64[M]").astype("datetime64[D]")'
_SC = "engine/scales.py"
_SIZE = "if b.size > 4096:  # many balances over a small range: compute each distinct value once"
_RANGE = "if hi - lo < b.size // 4:"
_SEG = 'seg = np.clip(np.searchsorted(bx, b, side="right") - 1, 0, len(bx) - 2)'
_INNER = "inner = s0 + ((np.clip(b, b0, b1) - b0) * (s1 - s0)) // (b1 - b0)"
_TABLE = "table = _scale_exact(np.arange(lo, hi + 1, dtype=np.int64), scale)"
_BX = "bx = np.array([p.balance for p in scale.breakpoints], dtype=np.int64)"
_SY = "sy = np.array([p.score for p in scale.breakpoints], dtype=np.int64)"
_MINS = "mins = np.array([c.min_balance for c in bands.cutoffs[:-1]], dtype=np.int64)"
_BAND = "return (np.asarray(balance, dtype=np.int64)[:, None] < mins[None, :]).sum(axis=1).astype(np.int8)"
_LK = "identity/linkage.py"
_FF = "first_failure = np.full(n, None, dtype=object)"
_PROBE = 'probe = pl.DataFrame({"__row": pl.Series(rows, dtype=pl.UInt32), key: x.gather(rows)})'
_PAT = 'pat = pl.col("patronymic") if "patronymic" in records.columns else pl.lit(None, pl.String)'
_REASONS = "parts.append(_decisions(left_rows, reason=pl.Series(reasons.tolist(), dtype=pl.String)))"
_ASSERT_ONCE = ('assert decided.height == n and decided["__row"].n_unique() == n, '
                '"linkage decided a record twice or not at all"')
_LD = "policy/load.py"
_NEAR_FILE = "near = difflib.get_close_matches(s, builtin_names(), n=1)"
_NEAR_TYPE = "near = difflib.get_close_matches(event_type, list(BY_NAME), n=1, cutoff=0.6)"
_COMPOSE = "return super().compose_node(parent, index)"
_SHOWN = ('shown = "" if err["type"] in ("missing",) or isinstance(got, (dict, list)) '
          'else f" (got {_flat(repr(got), 60)})"')
_CT = "store/contest.py"
_CAPBAND = "band = np.where(evaluate(cap.when, ctx, rs.bands.names), np.maximum(band, worst), band)"
_TAG_INSERT = 'f"{db.tag_sql(\'row_hash\')} FROM _staged ORDER BY entry_id")'
_TAG_UPGRADE = 'f"{db.tag_sql(\'row_hash\')} FROM ledger_entries ORDER BY entry_id")'
_TAG_VERIFY = 'f"min(CASE WHEN t <> {db.tag_sql(\'h\')} THEN entry_id END) FROM ("'
_CLASH = 'f"WHERE {db.row_hash_sql(\'e.\')} <> {db.row_hash_sql(\'s.\')} ORDER BY s.entry_id LIMIT 5")'
_DDL = 'cols = ", ".join(f"{c} {_SQL_TYPES[t]}" + (self._db.entry_key if c == "entry_id" else "")'
_SS = 'starts = np.searchsorted(shard, np.arange(n_shards), side="left")'
_ORDER = 'order = np.argsort(citizen_ids, kind="stable")'
_KNOWN = "known = (pos < len(sorted_ids)) & (sorted_ids[pos_c] == event_citizens) if len(sorted_ids) else \\"
_SCALAR = "return from_days(int(add_months(np.array([to_days(d)], dtype=np.int32), months)[0]))"
_CO = "policy/conditions.py"
_SCHEMA_ATTRS = 'for attr in ("__pydantic_core_schema__", "__pydantic_validator__", "__pydantic_serializer__"):'
_WITH_NUMBERS = "def with_numbers(self, cols: Columns, band_names: list[str] | None, i: int = 0) -> str:"
_GR = "audit/groups.py"
_FILL = '.with_columns(pl.col("affected").fill_null(0), pl.col("months_sum").fill_null(0.0),'
_KIND_SCHEMA = 'schema={"consequence_id": pl.String, "kind": pl.String})'
_UNDER18 = '& ~pl.col("group").str.contains("under 18", literal=True))'
_CHILD = 'child = pl.col("group").str.contains("under 18", literal=True)'
_REF = 'ref = ~pl.col("suppressed") & ~child & (pl.col("dimension") != "overall")'
_FF4 = 'pl.when(cmp & pl.col("impact_ratio").is_not_null()).then(pl.col("impact_ratio") < FOUR_FIFTHS)'
_P = "p = np.divide(k, n, out=np.zeros(k.shape), where=n > 0)"
_RATIOS = "ratios = np.divide(rates, overall, out=np.full(rates.shape, np.nan), where=overall > 0)"
_DORDER = 'dorder = {("overall" if s == ("overall",) else SEP.join(s)): i for i, s in enumerate(specs)}'
_RANKS = 'schema={"dimension": pl.String, "group": pl.String, "_g": pl.Int32}))'
_WORDS = "words = pl.Series([MISSING_REQUIRED, *_FAILURES[1:]], dtype=pl.String)  # no failure: a key was missing"
_GATHER = "parts.append(_decisions(left_rows, reason=words.gather(p.first_failure[left_rows].astype(np.int64))))"
_CP = "engine/compiled.py"
_FIXED = "fixed=np.clip([r.points if r.points is not None else 0 for r in rules], -32768, 32767).astype(np.int16),"
_PER_UNIT = "per_unit=np.array([r.points_per_unit or 0.0 for r in rules], dtype=np.float64),"
_IS_UNIT = "is_unit=np.array([r.points_per_unit is not None for r in rules], dtype=np.bool_),"
_TARGETS = "closures = tuple(ClosureRule(c, np.array([t in c.closes for t in rule_types], dtype=np.bool_))"
_SCO = "engine/score.py"
_LE = "engine/ledger.py"
_DENSE = "if n and citizens[0] == 0 and citizens[-1] == n - 1:  # dense ids 0..n-1: the common case"
_CI_OK = "ok = (pos < n) & (citizens[pos_c] == ids) if n else np.zeros(len(ids), bool)"
_TOTALS = "totals = np.zeros((table.period_t.max() + 1, n_cit), np.int32)"
_OVER = "over = np.empty(len(ent.rule), np.bool_)"
_PARTS = "parts = K.chunks(n_cit) if len(ent.rule) >= K.MIN_CHUNK else [(0, n_cit)]"
_DAYS = 'd = np.arange(day_lo, day_hi + 1, dtype=np.int64).astype("datetime64[D]")'
_MONTHS = "months = np.arange(m_lo, int(mi_t[-1]) + months_after + 2, dtype=np.int64)"
_USED = "used = np.zeros((len(caps.rules), n_cit), np.int64)"
_WHY = "why = np.array(K.REASONS, dtype=object)[reason[q_rows]].tolist()"
_QSER = "quarantine = events[q_rows].with_columns(reason=pl.Series(why, dtype=pl.String))"
_CROWS = "rows = np.flatnonzero(closes) if cp.closures else np.zeros(0, np.int64)"
_RFLAGS = "cat_flags[code] |= K.RULE_TYPE | (K.UNIT_TYPE if cp.rules.is_unit[rs].any() else 0)"
_MSTART = 'mstart = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64).astype(np.int32)'
_CELLS = "if len(caps.rules) * n_p * n_cit > MAX_CAP_CELLS or caps.lim.max() >= CAP_SATURATED:"
_HALVES = "halves = [sel] if len(sel) < K.MIN_CHUNK // 4 else [sel[ci[sel] < mid], sel[ci[sel] >= mid]]"
_OV_OK = "ok = (pos < len(entry_ids)) & (entry_ids[np.minimum(pos, len(entry_ids) - 1)] == ids)"
_CODES = "codes = np.array([STATES.index(s) for s in new], dtype=np.int8)"
_SM = 'sm = since.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)'
_TM = 'tm = target.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)'
_HOLDERS = '}).sort("via").unique("household", keep="first", maintain_order=True)'
_NI = "return s.scatter(np.flatnonzero(missing), None) if missing.any() else s"
_ASOF = '"as_of": pl.Series(np.full(n, asof, np.int32)).cast(pl.Date),'
_STATUS = '"status": pl.Series(ctx["status"], dtype=pl.Int8),'
_LEVEL = '"level": pl.Series(ctx["level"], dtype=pl.Int8),'
_BAL_S = "bal_s = np.full(n, rs.base_status, np.int64)"
_BAL_L = "bal_l = np.full(n, rs.base_level, np.int64)"
_FLAGS = "flag_counts = np.zeros((len(cp.flag_types), n), np.int32)"
_CODE = "code = np.concatenate([np.full(len(p[2]), 2 * p[0] + p[1], np.int32) for p in parts] or [np.zeros(0, np.int32)])"
_CIT = "cit = np.concatenate([p[2] for p in parts] or [np.zeros(0, np.int64)]).astype(np.int64)"
_SINCE = "since = np.concatenate([p[3] for p in parts] or [np.zeros(0, np.int64)])"
_UNTIL = "until = np.concatenate([p[4] for p in parts] or [np.zeros(0, np.int64)])"
_VIA = "via = np.concatenate([p[5] if p[5] is not None else np.full(len(p[2]), -1, np.int64) for p in parts]"
_BANDC = 'cols["band"] = pl.Series(ctx["band"].astype(np.uint32)).cat.to(pl.Enum(rs.bands.names))'
_SP = "engine/spells.py"
_SP_BUF1 = ("bufs = [Holdings(np.empty(hi - lo, np.int32), np.empty(hi - lo, led.rule_idx.dtype), "
            "np.empty(hi - lo, np.int32),")
_SP_BUF2 = "np.empty(hi - lo, led.points.dtype), np.empty(hi - lo, np.int32)) for lo, hi in parts]"
_SP_SIZE = "size = int(max(ci.max(initial=-1), holders.max(initial=-1))) + 1"
_SP_HPOS = "hpos = np.full(size, -1, dtype=np.int32)"
_SP_HAR = "hpos[holders] = np.arange(len(holders), dtype=np.int32)"
_SP_SPLIT = "if m >= K.MIN_CHUNK // 4 and threads > 1:"
_SP_CUTS = "cuts = np.searchsorted(start, np.linspace(0, m, threads + 1)[1:-1])"
_SP_RUN = "len(cp.flag_types), rs.level_window_months, led.dates, NEVER, BASE_DAY)"
_SP_HOLD = ("out = K.run_chunks(K.timeline_rows, parts, holders.astype(np.int64), start, order, held, "
            "cp.flag_of_rule,")


_MO = "engine/monthly.py"
_MO_SHAPE = "shape = (months + 1, self.n)  # row `months` collects changes beyond the horizon"
_MO_PAD = "padded = np.zeros((m + 2, n), dtype=np.int8)"
_MO_ENDS = "e_month, e_cit = np.nonzero(d.T == -1)[1], np.nonzero(d.T == -1)[0]"
_MO_P = "p = pts.astype(np.int64)"
_MO_F = "f = self.rule_flag[t][rule].astype(np.int64)"


_EX = "engine/explain.py"
_EX_REC = "rec = CitizenRecord(policy, as_of, led)"
_EX_CALL = '"recourse": recourse(policy, as_of, led, row, rec),'
_EX_SINCE = '"since": row["since"].isoformat() if row["since"] else None,'


_RC = "engine/recourse.py"
_RC_NEVER = 'and r["closed_on"] is None and r["points"] < 0]'
_RC_END = "if rec.as_of < ends <= until:"
_RC_W = "if level and rec.as_of < w <= until and w < ends:"
_RC_KMAX = "kmax = math.ceil(top / per) if left is None else math.ceil(min(top, left) / per) + 1"
_RC_KS = "ks = np.arange(1, max(kmax, 1) + 1, dtype=np.int64)"
_RC_XS = "xs = np.arange(1, max(top, 1) + 1, dtype=np.int64)"
_RC_TOP = "top = max(_thresholds(policy, cond)) - min(rec.bal_s, rec.bal_l) + 2"
_RC_PTS = "pts = np.trunc(ks * per).astype(np.int64)"
_RC_SIGN = ("if r.sign < 0 or (r.valid_from and asof < r.valid_from) or (r.valid_until and asof >= "
            "r.valid_until):")
_RC_START = "states: dict[tuple, tuple[int, tuple[int, ...]]] = {start: (0, ())}"
_RC_CAND = "if nk not in nxt or cand < nxt[nk]:"
_RC_KEYS = "keys = np.array(list(states), dtype=np.int64).reshape(len(states), dim)"
_RC_PTS_ROW = 'self.points = np.array([r["points"] for r in self.rows], dtype=np.int64)'
_RC_COUNTING = 'self.counting = np.array([counts_now(str(r["state"]), policy) for r in self.rows], dtype=bool)'
_RC_WIN = '[as_of < add_months_scalar(r["occurred_on"], rs.level_window_months) for r in self.rows], dtype=bool)'
_RC_FLAG_OF = '[[str(r["event_type"]) == t for t in self.flag_types] for r in self.rows], dtype=np.int64'
_RC_FLAGS = "self.flags = (self.flag_of * self.counting[:, None]).sum(axis=0) if len(self.rows) else \\"
_RC_ZEROS = "np.zeros(len(self.flag_types), np.int64)"
_RC_FL = "fl = {t: flags[:, k].astype(np.int64) for k, t in enumerate(self.flag_types)}"


_MO_ADD = "np.add.at(arr.reshape(-1), rows.astype(np.int64) * self.n + ci, values.astype(arr.dtype))"
_MO_ON = "on = end_row > start_row"
_MO_ON_L = "on_l = lvl_row > start_row"
_MO_FS = "f = self.rule_flag[t][rule_idx].astype(np.int64)"
_MO_IDS = "ids = np.concatenate([a[0] for a in self.appeals]).astype(np.int64)"
_MO_ENDS_D = "ends = np.array([to_days(e) for e in self.ends] + [NEVER], dtype=np.int64)"
_MO_CAT = '"reason": "simulated appeal", "at": pl.Series(c_at.astype(np.int32)).cast(pl.Date)})'
_MO_RAT = '"at": pl.Series(r_at.astype(np.int32)).cast(pl.Date)})'
_MO_CONCAT = ('out = pl.concat([contested.with_columns(_o=pl.lit(0)), resolved.with_columns(_o=pl.lit(1))], '
              'how="vertical")')
_MO_SORT = 'return out.sort("at", "_o", "entry_id").drop("_o").cast(cols)'
_MO_BAL_S = "self.bal_s = np.full(self.n, rs.base_status, np.int64)"
_MO_BAL_L = "self.bal_l = np.full(self.n, rs.base_level, np.int64)"


_MO_MEND = 'ends = (first + np.arange(1, months + 1)).astype("datetime64[D]") - np.timedelta64(1, "D")'
_MO_NOCL = "if not self.policy.closures or not events.height:"
_MO_BETTER = 'better = hit & (when < o["end"][tsel])'
_MO_SS1 = 'j = np.searchsorted(key_close, key_t, side="left")'
_MO_SS2 = 'j = np.searchsorted(keys, key_t, side="left")'
_MO_DONE = 'done = o["end"] <= asof'
_MO_PRUNE = "if done.sum() > len(done) // 4:  # prune now and then, not every month"
_MO_PAST = "better = hit & (when < led.closed[tsel]) & (when < led.expires[tsel])"
_MO_CLOSED = "led.closed[tsel[better]] = when[better].astype(np.int32)"
_MO_OLD = "old = self.past_closings.get(cl.id, np.zeros(0, np.int64))"
_MO_PTS_OPEN = '"pts": led.points[keep].astype(np.int64), "rule": led.rule_idx[keep].astype(np.int64),'
_MO_LIVE = "live = (states == 0) & (ends > asof)"
_MO_START = "start = np.full(len(sel), k, np.int64)"
_MO_APPEND = ("self.appeals.append((ids, np.full(len(ids), review, np.int32), o[c], np.full(len(ids), k, "
              "np.int32)))")
_MO_HOLDS = "dtype=bool).reshape(len(policy.consequences), self.n)"
_MO_CAPW = "self.cap_used[i] += np.bincount(led.citizen_idx[m], weights=np.abs(led.points[m].astype(np.int64)),"
_MO_UNTOUCHED = "untouched = np.ones(len(sel), bool)"


_EV_CODES = "return codes.astype(np.int32, copy=False), cats"


_GR_LEAST = 'pl.col("group").sort_by("rate", maintain_order=True).first().alias("least_affected"),'
_GR_MOST = 'pl.col("group").sort_by("rate", descending=True, maintain_order=True).first().alias("most_affected"),'


EQUIVALENT: dict[str, list[tuple[str, str, str]]] = {
    "groups.disparity_summary's maintain_order on the pinned polars (requirements.lock): sort_by(...)"
    ".first() in an aggregation gives the first of the tied groups with or without it (checked on "
    "2,000 to 200,000 groups with random ties, ten calls each); the flag states the order the summary "
    "relies on (test_summary_breaks_ties_in_the_table_s_group_order_every_time), so that a polars "
    "that sorts ties otherwise cannot change the printed summary": [
        (_GR, _GR_LEAST, _GR_LEAST.replace(", maintain_order=True)", ", )")),
        (_GR, _GR_LEAST, _GR_LEAST.replace("maintain_order=True", "maintain_order=False")),
        (_GR, _GR_MOST, _GR_MOST.replace(", maintain_order=True)", ", )")),
        (_GR, _GR_MOST, _GR_MOST.replace("maintain_order=True", "maintain_order=False")),
    ],
    "events.event_type_codes, the same codes: astype's copy flag decides only whether a new array is "
    "allocated, and the codes come from a temporary nobody else holds": [
        ("engine/events.py", _EV_CODES, _EV_CODES.replace("copy=False", "copy=None")),
        ("engine/events.py", _EV_CODES, _EV_CODES.replace(", copy=False)", ", )")),
        ("engine/events.py", _EV_CODES, _EV_CODES.replace("copy=False", "copy=True")),
    ],
    "monthly, the same month ends and closures: one day without a unit is numpy's day for a datetime64[D] "
    "array; an empty month has no closing rows (every closure skips it), so testing it together with "
    "'no closures' changes nothing; searchsorted's side is 'left' by default; a new end equal to the old "
    "one reschedules +p and -p on the same row, and a past closing equal to the entry's own closing "
    "day sets the day it already has; closing days cast to float64 are whole numbers the int32 column "
    "takes; a stand-in past-closings key 0 is citizen 0 on 1970-01-01, before every entry, so no search "
    "lands on it; pruning ended entries earlier, later or one day later only changes memory (an ended "
    "entry's new end is never better): ": [
        (_MO, _MO_MEND, _MO_MEND.replace('np.timedelta64(1, "D")', "np.timedelta64(1, )")),
        (_MO, _MO_NOCL, _MO_NOCL.replace(" or not events", " and not events")),
        (_MO, _MO_BETTER, _MO_BETTER.replace("when < o", "when <= o")),
        (_MO, _MO_SS1, _MO_SS1.replace(', side="left")', ", )")),
        (_MO, _MO_SS2, _MO_SS2.replace(', side="left")', ", )")),
        (_MO, _MO_PAST, _MO_PAST.replace("when < led.closed", "when <= led.closed")),
        (_MO, _MO_CLOSED, _MO_CLOSED.replace("astype(np.int32)", "astype(None)")),
        (_MO, _MO_OLD, _MO_OLD.replace("np.zeros(0, np.int64)", "np.zeros(1, np.int64)")),
        (_MO, _MO_DONE, _MO_DONE.replace("<= asof", "< asof")),
        (_MO, _MO_PRUNE, _MO_PRUNE.replace("done.sum() >", "done.sum() >=")),
        (_MO, _MO_PRUNE, _MO_PRUNE.replace("// 4", "/ 4")),
        (_MO, _MO_PRUNE, _MO_PRUNE.replace("// 4", "// 5")),
    ],
    "monthly.step, the same schedule: an entry that is not active has ended by the as-of date "
    "(expired or closed on or before it), and an active one ends after it, so `| (ends > asof)` and "
    "`ends >= asof` select the same entries; int64 arrays filled with Python ints need no dtype, and "
    "the appeals' int32 months as int64 index and compare alike; bincount's weights are float64 "
    "whatever the points' type; the consequence mask is bool from bool arrays; with no appeals "
    "`sel[None]` has a leading axis that the closable-rule mask shares, so the same entries are kept; "
    "points cast to float64 are whole numbers _reschedule casts back": [
        (_MO, _MO_LIVE, _MO_LIVE.replace("(states == 0) & ", "(states == 0) | ")),
        (_MO, _MO_LIVE, _MO_LIVE.replace("ends > asof", "ends >= asof")),
        (_MO, _MO_START, _MO_START.replace("np.int64)", "None)")),
        (_MO, _MO_START, _MO_START.replace(", np.int64)", ", )")),
        (_MO, _MO_APPEND, _MO_APPEND.replace("review, np.int32)", "review, None)")),
        (_MO, _MO_APPEND, _MO_APPEND.replace("review, np.int32)", "review, )")),
        (_MO, _MO_APPEND, _MO_APPEND.replace("k, np.int32)))", "k, None)))")),
        (_MO, _MO_APPEND, _MO_APPEND.replace("k, np.int32)))", "k, )))")),
        (_MO, _MO_HOLDS, _MO_HOLDS.replace("dtype=bool)", "dtype=None)")),
        (_MO, _MO_HOLDS, _MO_HOLDS.replace("dtype=bool)", ")")),
        (_MO, _MO_CAPW, _MO_CAPW.replace("astype(np.int64)", "astype(None)")),
        (_MO, _MO_UNTOUCHED, "untouched = None"),
        (_MO, _MO_PTS_OPEN, _MO_PTS_OPEN.replace('"pts": led.points[keep].astype(np.int64)',
                                                 '"pts": led.points[keep].astype(None)')),
    ],
    "monthly's delta tables, the same sums: numpy reads reshape(-2) as reshape(-1) (any negative size "
    "is the one to infer; still a view); values cast to float64 are whole numbers that np.add.at casts "
    "into the int32 table; an entry with end row = start row adds +p and -p to the same row either way "
    "(`>=` for `>`); flags as float64 likewise; balances filled from the int base are int64 without the "
    "dtype": [
        (_MO, _MO_ADD, _MO_ADD.replace("reshape(-1)", "reshape(-2)")),
        (_MO, _MO_ADD, _MO_ADD.replace("values.astype(arr.dtype)", "values.astype(None)")),
        (_MO, _MO_ON, _MO_ON.replace(">", ">=")),
        (_MO, _MO_ON_L, _MO_ON_L.replace(">", ">=")),
        (_MO, _MO_FS, _MO_FS.replace("np.int64", "None")),
        (_MO, _MO_BAL_S, _MO_BAL_S.replace("np.int64)", "None)")),
        (_MO, _MO_BAL_S, _MO_BAL_S.replace(", np.int64)", ", )")),
        (_MO, _MO_BAL_L, _MO_BAL_L.replace("np.int64)", "None)")),
        (_MO, _MO_BAL_L, _MO_BAL_L.replace(", np.int64)", ", )")),
    ],
    "monthly.appeal_changes, the same table: entry ids are int64 already, day numbers from Python ints "
    "are int64, and int64 days cast to pl.Date as int32 days do; pl.concat is vertical by default; any "
    "_o above 0 puts reviews after contests; and rows with the same day and kind are already in "
    "entry-id order (a month's appeals are appended in entry order; contests on one day come from one "
    "month, and reviews from two months never share a day: min(end of month m + R, end of month m + d) "
    "grows with m), so the last sort key only states the order": [
        (_MO, _MO_IDS, _MO_IDS.replace("astype(np.int64)", "astype(None)")),
        (_MO, _MO_ENDS_D, _MO_ENDS_D.replace("dtype=np.int64", "dtype=None")),
        (_MO, _MO_ENDS_D, _MO_ENDS_D.replace(", dtype=np.int64)", ", )")),
        (_MO, _MO_CAT, _MO_CAT.replace("astype(np.int32)", "astype(None)")),
        (_MO, _MO_RAT, _MO_RAT.replace("astype(np.int32)", "astype(None)")),
        (_MO, _MO_CONCAT, _MO_CONCAT.replace(', how="vertical")', ", )")),
        (_MO, _MO_CONCAT, _MO_CONCAT.replace("pl.lit(1)", "pl.lit(2)")),
        (_MO, _MO_SORT, _MO_SORT.replace('"_o", "entry_id")', '"_o", None)')),
        (_MO, _MO_SORT, _MO_SORT.replace('"_o", "entry_id")', '"_o", )')),
    ],
    "recourse._lifts, the same lists: a counting entry ends after the as-of date (on its end day "
    "its state is expired or closed), so `as_of <= ends` reads as `as_of < ends`; and the else branch "
    "is reached only when ends > until, where `w <= until` already makes w < ends": [
        (_RC, _RC_END, _RC_END.replace("rec.as_of < ends", "rec.as_of <= ends")),
        (_RC, _RC_W, _RC_W.replace("w < ends", "w <= ends")),
    ],
    "recourse.offset's search ranges, the same first fit (aranges of Python ints are int64 anyway): `top` is past every threshold (+2), so "
    "points at or beyond it all give the same verdict, and a longer range (k to ceil(top / per) "
    "whatever the cap, one or two more k, one more x, top + 3), or one that starts at 0 points (where "
    "the condition still holds), finds the same first k or x; a rule's sign is +1 or -1, never 0": [
        (_RC, _RC_KMAX, _RC_KMAX.replace("if left is None else", "if (left is None) or True else")),
        (_RC, _RC_KMAX, _RC_KMAX.replace("/ per) + 1", "/ per) + 2")),
        (_RC, _RC_KS, _RC_KS.replace("np.arange(1, ", "np.arange(")),
        (_RC, _RC_KS, _RC_KS.replace("dtype=np.int64", "dtype=None")),
        (_RC, _RC_KS, _RC_KS.replace(", dtype=np.int64)", ", )")),
        (_RC, _RC_XS, _RC_XS.replace("dtype=np.int64", "dtype=None")),
        (_RC, _RC_XS, _RC_XS.replace(", dtype=np.int64)", ", )")),
        (_RC, _RC_KS, _RC_KS.replace("max(kmax, 1)", "max(kmax, 2)")),
        (_RC, _RC_KS, _RC_KS.replace(") + 1,", ") + 2,")),
        (_RC, _RC_XS, _RC_XS.replace("np.arange(1, ", "np.arange(")),
        (_RC, _RC_XS, _RC_XS.replace("max(top, 1)", "max(top, 2)")),
        (_RC, _RC_XS, _RC_XS.replace(") + 1,", ") + 2,")),
        (_RC, _RC_TOP, _RC_TOP.replace("+ 2", "+ 3")),
        (_RC, _RC_SIGN, _RC_SIGN.replace("r.sign < 0", "r.sign <= 0")),
        (_RC, _RC_SIGN, _RC_SIGN.replace("r.sign < 0", "r.sign < 1")),
    ],
    "recourse.smallest_overturn's bookkeeping, the same answer: every count one higher orders the "
    "states alike (`size` is the length of the rows chosen); an equal candidate for a state is the same "
    "(count, picks), so keeping the later one changes nothing; the state keys are Python ints, int64 "
    "anyway": [
        (_RC, _RC_START, _RC_START.replace("(0, ())", "(1, ())")),
        (_RC, _RC_CAND, _RC_CAND.replace("cand < nxt", "cand <= nxt")),
        (_RC, _RC_KEYS, _RC_KEYS.replace("dtype=np.int64", "dtype=None")),
        (_RC, _RC_KEYS, _RC_KEYS.replace(", dtype=np.int64)", ", )")),
    ],
    "recourse.CitizenRecord's arrays, the same numbers: lists of Python ints and bools make int64 and "
    "bool arrays without the dtype; the flag matrix as bool sums to the same counts (bool x bool is "
    "and); the guard for no rows and its zeros (float or not) give zero counts that contexts() casts to "
    "int64; flag counts as float64 are compared, never used as indices, by has_active": [
        (_RC, _RC_PTS_ROW, _RC_PTS_ROW.replace("dtype=np.int64", "dtype=None")),
        (_RC, _RC_PTS_ROW, _RC_PTS_ROW.replace(", dtype=np.int64)", ", )")),
        (_RC, _RC_COUNTING, _RC_COUNTING.replace("dtype=bool", "dtype=None")),
        (_RC, _RC_COUNTING, _RC_COUNTING.replace(", dtype=bool)", ", )")),
        (_RC, _RC_WIN, _RC_WIN.replace("dtype=bool", "dtype=None")),
        (_RC, _RC_WIN, _RC_WIN.replace(", dtype=bool)", ", )")),
        (_RC, _RC_FLAG_OF, _RC_FLAG_OF.replace("dtype=np.int64", "dtype=None")),
        (_RC, _RC_FLAG_OF, _RC_FLAG_OF.replace(", dtype=np.int64", ", ).reshape(len(self.rows), len(self.flag_types))")),
        (_RC, _RC_FLAGS, _RC_FLAGS.replace("if len(self.rows) else", "if (len(self.rows)) or True else")),
        (_RC, _RC_ZEROS, _RC_ZEROS.replace("np.int64", "None")),
        (_RC, _RC_ZEROS, _RC_ZEROS.replace(", np.int64)", ", )")),
        (_RC, _RC_FL, _RC_FL.replace("astype(np.int64)", "astype(None)")),
        (_RC, _RC_PTS, _RC_PTS.replace("astype(np.int64)", "astype(None)")),
    ],
    "explain._consequences, the same recourse: the CitizenRecord it passes is a cache; without it "
    "(None, or the argument left out) recourse builds the same record from the same rows and as-of date, "
    "and recourse reads the as-of date only to build one, so None for it is never read": [
        (_EX, _EX_REC, "rec = None"),
        (_EX, _EX_CALL, _EX_CALL.replace("row, rec)", "row, None)")),
        (_EX, _EX_CALL, _EX_CALL.replace("row, rec)", "row, )")),
        (_EX, _EX_CALL, _EX_CALL.replace("policy, as_of,", "policy, None,")),
    ],
    "explain._consequences' guard for a null `since`: the consequences table never has one (score "
    "writes the policy's start for a spell that runs from before any entry); the guard only keeps a "
    "hand-edited table from crashing explain": [
        (_EX, _EX_SINCE, _EX_SINCE.replace('if row["since"] else', 'if (row["since"]) or True else')),
    ],
    "monthly, the same month-end states: a delta table one row longer is never read (rows past "
    "`months` are clipped to `months`); the panel padded as float64 has the same +1/-1 steps; e_cit is "
    "read only by the invariant's assert, which every run of True meets with s_cit either way (each "
    "start has its end); points and flags cast to float64 are whole numbers that _add casts to the "
    "int32 delta table": [
        (_MO, _MO_SHAPE, _MO_SHAPE.replace("months + 1", "months + 2")),
        (_MO, _MO_PAD, _MO_PAD.replace("dtype=np.int8", "dtype=None")),
        (_MO, _MO_PAD, _MO_PAD.replace(", dtype=np.int8)", ", )")),
        (_MO, _MO_ENDS, _MO_ENDS.replace("np.nonzero(d.T == -1)[0]", "np.nonzero(d.T == +1)[0]")),
        (_MO, _MO_P, _MO_P.replace("np.int64", "None")),
        (_MO, _MO_F, _MO_F.replace("np.int64", "None")),
    ],
    "spells.timeline, the split of the holders over threads: it decides only how the work is shared. "
    "Whatever the threshold and wherever the cuts fall, np.unique([0, min(cuts, n_h), n_h]) makes the "
    "parts a partition of 0..n_h in order, and the parts' rows are joined in that order "
    "(test_spells_split_over_threads_as_in_one compares 1, 2 and 3 threads)": [
        (_SP, _SP_SPLIT, _SP_SPLIT.replace(" and ", " or ")),
        (_SP, _SP_SPLIT, _SP_SPLIT.replace("m >= ", "m > ")),
        (_SP, _SP_SPLIT, _SP_SPLIT.replace("// 4", "/ 4")),
        (_SP, _SP_SPLIT, _SP_SPLIT.replace("// 4", "// 5")),
        (_SP, _SP_SPLIT, _SP_SPLIT.replace("threads > 1", "threads >= 1")),
        (_SP, _SP_SPLIT, _SP_SPLIT.replace("threads > 1", "threads > 2")),
        (_SP, _SP_CUTS, _SP_CUTS.replace("linspace(0, m, ", "linspace(m, ")),
        (_SP, _SP_CUTS, _SP_CUTS.replace("linspace(0, m, ", "linspace(0, ")),
        (_SP, _SP_CUTS, _SP_CUTS.replace("threads + 1)", ")")),
        (_SP, _SP_CUTS, _SP_CUTS.replace("linspace(0, ", "linspace(1, ")),
        (_SP, _SP_CUTS, _SP_CUTS.replace("threads + 1", "threads - 1")),
        (_SP, _SP_CUTS, _SP_CUTS.replace("threads + 1", "threads + 2")),
        (_SP, _SP_CUTS, _SP_CUTS.replace("[1:-1]", "[2:-1]")),
        (_SP, _SP_CUTS, _SP_CUTS.replace("[1:-1]", "[1:+1]")),
        (_SP, _SP_CUTS, _SP_CUTS.replace("[1:-1]", "[1:-2]")),
    ],
    "spells.timeline's holder positions, the same marks: ids are >= 0, so a longer table (initial +1 or "
    "+2, or + 2) or the same length (initial -2) marks the same holders; a fill of -2 is as negative as "
    "-1 (only `hpos >= 0` and the holders' own positions are read); int64 positions hold the same "
    "numbers, and positions written into the int32 table are cast by the assignment": [
        (_SP, _SP_SIZE, _SP_SIZE.replace("ci.max(initial=-1)", "ci.max(initial=+1)")),
        (_SP, _SP_SIZE, _SP_SIZE.replace("ci.max(initial=-1)", "ci.max(initial=-2)")),
        (_SP, _SP_SIZE, _SP_SIZE.replace("holders.max(initial=-1)", "holders.max(initial=+1)")),
        (_SP, _SP_SIZE, _SP_SIZE.replace("holders.max(initial=-1)", "holders.max(initial=-2)")),
        (_SP, _SP_SIZE, _SP_SIZE.replace(")) + 1", ")) + 2")),
        (_SP, _SP_HPOS, _SP_HPOS.replace("dtype=np.int32", "dtype=None")),
        (_SP, _SP_HPOS, _SP_HPOS.replace(", dtype=np.int32)", ", )")),
        (_SP, _SP_HPOS, _SP_HPOS.replace("-1,", "-2,")),
        (_SP, _SP_HAR, _SP_HAR.replace("dtype=np.int32", "dtype=None")),
        (_SP, _SP_HAR, _SP_HAR.replace(", dtype=np.int32)", ", )")),
    ],
    "spells._holder_entries' buffers one chunk-offset longer (hi + lo rows): only each buffer's first "
    "`sizes` rows are written and read": [
        (_SP, _SP_BUF1, _SP_BUF1.replace("np.empty(hi - lo, np.int32), np.empty(hi - lo, led",
                                         "np.empty(hi + lo, np.int32), np.empty(hi - lo, led")),
        (_SP, _SP_BUF1, _SP_BUF1.replace("np.empty(hi - lo, led", "np.empty(hi + lo, led")),
        (_SP, _SP_BUF1, _SP_BUF1.replace("dtype), np.empty(hi - lo, np.int32)", "dtype), np.empty(hi + lo, np.int32)")),
        (_SP, _SP_BUF2, _SP_BUF2.replace("np.empty(hi - lo, led", "np.empty(hi + lo, led")),
        (_SP, _SP_BUF2, _SP_BUF2.replace("dtype), np.empty(hi - lo, np.int32)", "dtype), np.empty(hi + lo, np.int32)")),
    ],
    "spells.timeline's arguments to the timeline kernel, the same rows read: with None for NEVER an entry "
    "that never ends gets an end row on day NEVER, and a change on day NEVER is reported as NEVER, the "
    "'does not lift by itself' of no row (no entry's own date reaches it); holders as float64 are "
    "written into the kernel's int64 row-citizen array, exact below 2**53": [
        (_SP, _SP_RUN, _SP_RUN.replace("NEVER, BASE_DAY", "None, BASE_DAY")),
        (_SP, _SP_HOLD, _SP_HOLD.replace("astype(np.int64)", "astype(None)")),
    ],
    "linkage._finish, the same reasons written differently: a list of str is inferred as String; the "
    "int8 failure codes cast to float64 instead of int64 are whole numbers, and polars gathers the same "
    "rows by them": [
        (_LK, _WORDS, _WORDS.replace("dtype=pl.String)", "dtype=None)")),
        (_LK, _WORDS, _WORDS.replace(", dtype=pl.String)", ", )")),
        (_LK, _GATHER, _GATHER.replace(".astype(np.int64)", ".astype(None)")),
    ],
    "groups._bootstrap and the sorting, the same figures written differently: the warnings silenced "
    "around nanpercentile (of a consequence nobody has) are silenced all the same by the catch-all "
    "filter or by errstate's defaults, and only warnings depend on them; every group has n >= 1 "
    "(its sizes come from the people in it), so guarding the division by n > 0 (its `out` and `where`) "
    "never comes into play; a replicate whose overall count is 0 has 0 in every group, and 0/0 is the NaN "
    "the guard fills in; `affected` as float64 gives the same k/n; the overall spec's key is 'overall' "
    "either way (SEP.join of ('overall',)); the order keys' and rank table's integer dtypes only sort; "
    "the rank table holds every (dimension, group) of the table, so a left and an inner join agree": [
        (_GR, 'with np.errstate(all="ignore"), warnings.catch_warnings():',
         'with np.errstate(all=None), warnings.catch_warnings():'),
        (_GR, 'warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN where nobody is affected overall',
         'warnings.simplefilter("ignore", )  # all-NaN where nobody is affected overall'),
        (_GR, 'k = t["affected"].to_numpy().reshape(C, G).astype(np.int64)',
         'k = t["affected"].to_numpy().reshape(C, G).astype(None)'),
        (_GR, _P, _P.replace("out=np.zeros(k.shape)", "out=None")),
        (_GR, _P, _P.replace("out=np.zeros(k.shape), ", "")),
        (_GR, _P, _P.replace("where=n > 0)", ")")),
        (_GR, _P, _P.replace("n > 0", "n >= 0")),
        (_GR, _RATIOS, _RATIOS.replace("where=overall > 0)", ")")),
        (_GR, _RATIOS, _RATIOS.replace("overall > 0", "overall >= 0")),
        (_GR, _DORDER, _DORDER.replace("if s == (", "if (s == (").replace(',) else', ',)) and False else')),
        (_GR, _DORDER, _DORDER.replace('("overall",)', '("XXoverallXX",)')),
        (_GR, _DORDER, _DORDER.replace('("overall",)', '("OVERALL",)')),
        (_GR, 'pl.col("consequence_id").replace_strict(order, return_dtype=pl.Int32).alias("_c"),',
         'pl.col("consequence_id").replace_strict(order, return_dtype=None).alias("_c"),'),
        (_GR, 'pl.col("consequence_id").replace_strict(order, return_dtype=pl.Int32).alias("_c"),',
         'pl.col("consequence_id").replace_strict(order, ).alias("_c"),'),
        (_GR, 'pl.col("dimension").replace_strict(dorder, return_dtype=pl.Int32).alias("_d"),',
         'pl.col("dimension").replace_strict(dorder, return_dtype=None).alias("_d"),'),
        (_GR, 'pl.col("dimension").replace_strict(dorder, return_dtype=pl.Int32).alias("_d"),',
         'pl.col("dimension").replace_strict(dorder, ).alias("_d"),'),
        (_GR, _RANKS, "schema=None))"),
        (_GR, _RANKS, "))"),
        (_GR, 'return t.join(pl.concat(ranks), on=["dimension", "group"], how="left").sort("_c", "_d", "_g")',
         'return t.join(pl.concat(ranks), on=["dimension", "group"], ).sort("_c", "_d", "_g")'),
    ],
    "groups._finish: the overall row is alone in its (consequence, dimension) partition, so the two "
    "guards that keep it out of the comparisons are redundant: leaving it out of the reference (`ref`) "
    "leaves its reference rates null, so its ratios and flags are null even where `cmp` lets it in, and "
    "`cmp` keeps them null even where `ref` lets it in; `cmp | ...` differs from `cmp & ...` only on "
    "overall rows, whose impact ratio and four-fifths flag are null either way; the overall frame has a "
    "row for every consequence, so a left and an inner join agree; 'under 18' holds no regex "
    "metacharacter": [
        (_GR, _CHILD, _CHILD.replace("literal=True", "literal=None")),
        (_GR, _CHILD, _CHILD.replace("literal=True", "literal=False")),
        (_GR, _CHILD, _CHILD.replace(", literal=True)", ", )")),
        (_GR, 't = t.join(overall, on="consequence_id", how="left").with_columns(',
         't = t.join(overall, on="consequence_id", ).with_columns('),
        (_GR, _REF, _REF.replace('"overall"', '"XXoverallXX"')),
        (_GR, _REF, _REF.replace('"overall"', '"OVERALL"')),
        (_GR, 'cmp = pl.col("dimension") != "overall"', 'cmp = pl.col("dimension") != "XXoverallXX"'),
        (_GR, 'cmp = pl.col("dimension") != "overall"', 'cmp = pl.col("dimension") != "OVERALL"'),
        (_GR, _FF4, _FF4.replace("cmp & pl.col", "cmp | pl.col")),
        (_GR, '.when(cmp & ~restr).then(pl.col("four_fifths"))', '.when(cmp | ~restr).then(pl.col("four_fifths"))'),
    ],
    "groups.group_table, the same table written differently: months_sum is read only where affected > 0, "
    "i.e. where the join found the group's outcomes and their sum is not null, so its fill value (0.0, "
    "1.0, none) is never read; a join's default is how='inner'; the kinds frame's String schema only "
    "matters for an empty `kinds`, which fails further on either way (the callers always pass the "
    "any-restriction/any-privilege kinds); every dimension's table is built by the same expressions, "
    "so all have one schema and a plain vertical concat equals the relaxed one; disparity_summary's 'under 18' holds no regex metacharacter, "
    "so matching it as a pattern or literally is the same": [
        (_GR, _FILL, '.with_columns(pl.col("affected").fill_null(0), None,'),
        (_GR, _FILL, '.with_columns(pl.col("affected").fill_null(0), pl.lit(name).alias("dimension"))'),
        (_GR, _FILL, _FILL.replace("fill_null(0.0)", "fill_null(1.0)")),
        (_GR, '.join(groups, on="citizen_id", how="inner"))', '.join(groups, on="citizen_id", ))'),
        (_GR, 't = pl.concat(tables, how="vertical_relaxed")', "t = pl.concat(tables, )"),
        (_GR, _KIND_SCHEMA, "schema=None)"),
        (_GR, _KIND_SCHEMA, ")"),
        (_GR, _UNDER18, _UNDER18.replace("literal=True", "literal=None")),
        (_GR, _UNDER18, _UNDER18.replace("literal=True", "literal=False")),
        (_GR, _UNDER18, _UNDER18.replace(", literal=True)", ", )")),
    ],
    "conditions._rebuild makes pydantic rebuild every kind and holder from scratch by redundant means: "
    "it deletes each model's compiled core schema (what a nested model's schema is built from), marks "
    "it incomplete *and* forces the rebuild (either one alone rebuilds: model_rebuild skips only a "
    "complete model not forced), and deletes the validator and serializer, which the rebuild replaces "
    "anyway (complete_model_class assigns both). Each mutant drops one of the redundant means; the "
    "run-time registrations of test_condition_kinds.py and test_mutants_conditions.py (register, parse "
    "inside a whole policy and a holder, unregister, schema back as before) pass with each": [
        (_CO, _SCHEMA_ATTRS, _SCHEMA_ATTRS.replace('"__pydantic_validator__"', '"XX__pydantic_validator__XX"')),
        (_CO, _SCHEMA_ATTRS, _SCHEMA_ATTRS.replace('"__pydantic_validator__"', '"__PYDANTIC_VALIDATOR__"')),
        (_CO, _SCHEMA_ATTRS, _SCHEMA_ATTRS.replace('"__pydantic_serializer__"', '"XX__pydantic_serializer__XX"')),
        (_CO, _SCHEMA_ATTRS, _SCHEMA_ATTRS.replace('"__pydantic_serializer__"', '"__PYDANTIC_SERIALIZER__"')),
        (_CO, "m.__pydantic_complete__ = False", "m.__pydantic_complete__ = None"),
        (_CO, "m.__pydantic_complete__ = False", "m.__pydantic_complete__ = True"),
        (_CO, "m.model_rebuild(force=True)", "m.model_rebuild(force=None)"),
        (_CO, "m.model_rebuild(force=True)", "m.model_rebuild(force=False)"),
    ],
    "conditions: band names not passed to `mark` by a score, balance or has_active condition, whose "
    "holds() never reads them (only band reads band_names; not/all/any pass them on, and their "
    "mutants are caught); and ConditionKind.with_numbers' default row, in the base that raises "
    "NotImplementedError before reading it (the same line's mutants in every kind that explains "
    "itself are caught by test_mutants_conditions.py, which calls each without a row)": [
        (_CO, 'f"({self.mark(cols, band_names, i)})")', 'f"({self.mark(cols, None, i)})")'),
        (_CO, 'return f"{self.compare.with_value(self.noun, int(cols[self.tag][i]))} ({self.mark(cols, band_names, i)})"',
         'return f"{self.compare.with_value(self.noun, int(cols[self.tag][i]))} ({self.mark(cols, None, i)})"'),
        (_CO, _WITH_NUMBERS, _WITH_NUMBERS.replace("i: int = 0", "i: int = 1")),
    ],
    "score: consequence codes filled as int64 (from a Python int) are cast to Int32 by code_s; band "
    "codes as float64 are whole numbers 0..n-1, which cat.to maps to the same Enum values as "
    "uint32 (checked); consequences_at entering its block when conditions exist but nobody holds "
    "any only finds no holders and adds no part (`masks or any(...)`)": [
        (_SCO, _CODE, _CODE.replace("p[1], np.int32)", "p[1], None)")),
        (_SCO, _BANDC, _BANDC.replace("astype(np.uint32)", "astype(None)")),
        (_SCO, "if masks and any(m.any() for m in masks):", "if masks or any(m.any() for m in masks):"),
        (_SCO, _CODE, _CODE.replace("p[1], np.int32)", "p[1], )")),
    ],
    "score.consequence_table with no rows (nobody holds a consequence): the empty stand-ins' dtype "
    "(float64 when dropped) does not reach the table, whose columns are cast to Int64 and Date; a "
    "one-row stand-in for since beside empty columns is broadcast to no rows by polars (checked "
    "by test_mutants_score.test_consequences_table_when_nobody_holds_one_and_for_huge_ids)": [
        (_SCO, _CIT, _CIT.replace("[np.zeros(0, np.int64)]", "[np.zeros(0, None)]")),
        (_SCO, _CIT, _CIT.replace("[np.zeros(0, np.int64)]", "[np.zeros(0, )]")),
        (_SCO, _SINCE, _SINCE.replace("np.zeros(0, np.int64)", "np.zeros(0, None)")),
        (_SCO, _SINCE, _SINCE.replace("np.zeros(0, np.int64)", "np.zeros(0, )")),
        (_SCO, _SINCE, _SINCE.replace("np.zeros(0, np.int64)", "np.zeros(1, np.int64)")),
        (_SCO, _UNTIL, _UNTIL.replace("np.zeros(0, np.int64)", "np.zeros(0, None)")),
        (_SCO, _UNTIL, _UNTIL.replace("np.zeros(0, np.int64)", "np.zeros(0, )")),
        (_SCO, _UNTIL, _UNTIL.replace("np.zeros(0, np.int64)", "np.zeros(1, np.int64)")),
        (_SCO, "or [np.zeros(0, np.int64)]).astype(np.int64)", "or [np.zeros(0, None)]).astype(np.int64)"),
        (_SCO, "or [np.zeros(0, np.int64)]).astype(np.int64)", "or [np.zeros(0, )]).astype(np.int64)"),
    ],
    "score.consequence_table: the stand-in via of a direct row (-1) is never shown (nullable_ints "
    "nulls it where has_via is false) and never orders anything (has_via sorts direct rows before "
    "via rows first), so +1, -2 or an int64 filled from a Python int are the same; the codes are "
    "int32 already, so Int32 need not be said": [
        (_SCO, _VIA, _VIA.replace("-1, np.int64)", "-1, None)")),
        (_SCO, _VIA, _VIA.replace("-1, np.int64)", "-1, )")),
        (_SCO, _VIA, _VIA.replace("-1, np.int64)", "+1, np.int64)")),
        (_SCO, _VIA, _VIA.replace("-1, np.int64)", "-2, np.int64)")),
        (_SCO, "code_s = pl.Series(code, dtype=pl.Int32)", "code_s = pl.Series(code, dtype=None)"),
        (_SCO, "code_s = pl.Series(code, dtype=pl.Int32)", "code_s = pl.Series(code, )"),
    ],
    "score.rate: balances filled from a Python int are int64 without being told; the as-of day "
    "as int64 is cast to the same Date; status and level come from the scales as int8 arrays, "
    "which polars reads as Int8 (the table's types are pinned by test_mutants_score); flag counts "
    "kept as float64 instead of int32 are small whole numbers, exact, and only compared with a "
    "condition's count (they are not written out)": [
        (_SCO, _BAL_S, _BAL_S.replace(", np.int64)", ", None)")),
        (_SCO, _BAL_S, _BAL_S.replace(", np.int64)", ", )")),
        (_SCO, _BAL_L, _BAL_L.replace(", np.int64)", ", None)")),
        (_SCO, _BAL_L, _BAL_L.replace(", np.int64)", ", )")),
        (_SCO, _FLAGS, _FLAGS.replace(", np.int32)", ", None)")),
        (_SCO, _FLAGS, _FLAGS.replace(", np.int32)", ", )")),
        (_SCO, _ASOF, _ASOF.replace(", np.int32)", ", None)")),
        (_SCO, _ASOF, _ASOF.replace(", np.int32)", ", )")),
        (_SCO, _STATUS, _STATUS.replace("dtype=pl.Int8", "dtype=None")),
        (_SCO, _STATUS, _STATUS.replace(", dtype=pl.Int8)", ", )")),
        (_SCO, _LEVEL, _LEVEL.replace("dtype=pl.Int8", "dtype=None")),
        (_SCO, _LEVEL, _LEVEL.replace(", dtype=pl.Int8)", ", )")),
    ],
    "score.nullable_ints: its one caller passes an int64 array, which polars reads as Int64 without "
    "being told; scattering None over no rows gives the series back unchanged (the test skips "
    "the scatter for speed only)": [
        (_SCO, "s = pl.Series(values, dtype=pl.Int64)", "s = pl.Series(values, dtype=None)"),
        (_SCO, "s = pl.Series(values, dtype=pl.Int64)", "s = pl.Series(values, )"),
        (_SCO, _NI, _NI.replace("if missing.any() else", "if (missing.any()) or True else")),
    ],
    "score._household_members: the holders table's row order is not read (it is joined, and "
    "consequence_table sorts every row), so maintain_order=False changes nothing; unique's default "
    "keep='any' keeps the first row in the pinned polars (checked on 10 to 200,000 rows), so the "
    "lowest-id holder is still the one named; 'first' stays written because 'any' does not "
    "promise it (test_mutants_score.test_household_spill_over_with_two_holders_in_one_household "
    "pins the choice)": [
        (_SCO, _HOLDERS, _HOLDERS.replace("maintain_order=True", "maintain_order=False")),
        (_SCO, _HOLDERS, _HOLDERS.replace('keep="first", ', "")),
        (_SCO, _HOLDERS, _HOLDERS.replace(", maintain_order=True)", ", )")),
    ],
    "score: state codes built as int64 instead of int8 (they are 0..4 and written into the int8 "
    "states array); _term_end's month numbers as float64 instead of int64 (exact small integers, "
    "and add_months casts the months it adds to int32)": [
        (_SCO, _CODES, _CODES.replace("dtype=np.int8", "dtype=None")),
        (_SCO, _CODES, _CODES.replace(", dtype=np.int8)", ", )")),
        (_SCO, _SM, _SM.replace(".astype(np.int64)", ".astype(None)")),
        (_SCO, _TM, _TM.replace(".astype(np.int64)", ".astype(None)")),
        (_SCO, "end = add_months(since, k * term).astype(np.int64)", "end = add_months(since, k * term).astype(None)"),
    ],
    "score._term_end: the first guess of whole terms at least 1 instead of at least 0: it is 0 only "
    "when the target's month is before since's month + term, so the target is before since + term "
    "(which falls in that month), and both guesses end in the first term, since + term "
    "(until >= since: the target is never before since)": [
        (_SCO, "k = np.maximum((tm - sm) // term, 0)", "k = np.maximum((tm - sm) // term, 1)"),
    ],
    "score._apply_overrides: `pos <= len` only adds pos == len, an id above every entry's, which "
    "never equals the last entry's id, so the id test refuses it anyway": [
        (_SCO, _OV_OK, _OV_OK.replace("(pos < len", "(pos <= len")),
    ],
    "compiled._rule_arrays' clip of fixed points to int16: the model bounds |points| to 10,000 "
    "(policy.model.Points), so neither bound, nor either bound one further out, ever acts": [
        (_CP, _FIXED, _FIXED.replace("-32768, 32767", "None, 32767")),
        (_CP, _FIXED, _FIXED.replace("-32768, 32767", "-32768, None")),
        (_CP, _FIXED, _FIXED.replace("-32768, 32767", "-32769, 32767")),
        (_CP, _FIXED, _FIXED.replace("-32768, 32767", "-32768, 32768")),
    ],
    "compiled: arrays whose dtype numpy infers anyway from a non-empty list (a policy has at least "
    "one rule: policy.model, rules min_length=1): points_per_unit is a float after validation "
    "(strict float, an int given is stored as float) and the default 0.0 too, so float64; "
    "is_unit and a closure's targets are Python bools, so bool; for the same reason "
    "exp_m.max(initial=None) is exp_m.max(); OrderedDict.popitem(last=None) pops the oldest like "
    "last=False": [
        (_CP, _PER_UNIT, _PER_UNIT.replace("dtype=np.float64", "dtype=None")),
        (_CP, _PER_UNIT, _PER_UNIT.replace(", dtype=np.float64)", ", )")),
        (_CP, _IS_UNIT, _IS_UNIT.replace("dtype=np.bool_", "dtype=None")),
        (_CP, _IS_UNIT, _IS_UNIT.replace(", dtype=np.bool_)", ", )")),
        (_CP, _TARGETS, _TARGETS.replace("dtype=np.bool_", "dtype=None")),
        (_CP, _TARGETS, _TARGETS.replace(", dtype=np.bool_)", ", )")),
        (_CP, "max_expiry_months=int(ra.exp_m.max(initial=0)),", "max_expiry_months=int(ra.exp_m.max(initial=None)),"),
        (_CP, "_CACHE.popitem(last=False)", "_CACHE.popitem(last=None)"),
    ],
    "a lookup table one row longer than needed: the extra row (the day after the last date, "
    "the month after the last month + 1) is never indexed": [
        (_DA, _ARANGE_D, _ARANGE_D.replace("hi + 1", "hi + 2")),
        (_DA, _ARANGE_M, _ARANGE_M.replace("mhi + 2", "mhi + 3")),
    ],
    "np.arange of Python ints without dtype=np.int64 is int64 anyway on the 64-bit platforms "
    "the project runs on (numpy's default integer); the values are the same": [
        (_DA, _ARANGE_D, _ARANGE_D.replace("dtype=np.int64", "dtype=None")),
        (_DA, _ARANGE_D, _ARANGE_D.replace(", dtype=np.int64)", ", )")),
        (_DA, _ARANGE_M, _ARANGE_M.replace("dtype=np.int64", "dtype=None")),
        (_DA, _ARANGE_M, _ARANGE_M.replace(", dtype=np.int64)", ", )")),
    ],
    "an intermediate array left as int64/float64 instead of int32: day and month numbers are "
    "small integers, exact in either, and add_months casts its result to int32": [
        (_DA, 'dom = (d - m.astype("datetime64[D]")).astype(np.int32)',
         'dom = (d - m.astype("datetime64[D]")).astype(None)'),
        (_DA, "return m.astype(np.int64).astype(np.int32), dom", "return m.astype(None).astype(np.int32), dom"),
        (_DA, "mi = mi_t[off] + np.asarray(months, dtype=np.int32)", "mi = mi_t[off] + np.asarray(months, dtype=None)"),
        (_DA, "mi = mi_t[off] + np.asarray(months, dtype=np.int32)", "mi = mi_t[off] + np.asarray(months, )"),
        (_DA, "starts = starts.astype(np.int64).astype(np.int32)", "starts = starts.astype(np.int64).astype(None)"),
        (_DA, "starts = starts.astype(np.int64).astype(np.int32)", "starts = starts.astype(None).astype(np.int32)"),
        (_DA, _SCALAR, _SCALAR.replace("dtype=np.int32", "dtype=None")),
        (_DA, _SCALAR, _SCALAR.replace(", dtype=np.int32)", ", )")),
    ],
    "apply_scale's choice between the distinct-values table and the formula: both give the same "
    "scores (test_scales.test_table_path_equals_exact_formula), so moving the thresholds changes speed "
    "only (a table for a wide range is caught by its memory: test_wide_range_builds_no_table)": [
        (_SC, _SIZE, _SIZE.replace("b.size > 4096", "b.size >= 4096")),
        (_SC, _SIZE, _SIZE.replace("4096", "4097")),
        (_SC, _RANGE, "if hi - lo <= b.size // 4:"),
        (_SC, _RANGE, "if hi - lo < b.size / 4:"),
        (_SC, _RANGE, "if hi - lo < b.size // 5:"),
    ],
    "the message of scale_one's AssertionError('unreachable'): the loop before it returns for every "
    "balance strictly between the first and last breakpoints, the two ifs before it for the rest": [
        (_SC, 'raise AssertionError("unreachable")', 'raise AssertionError(None)'),
        (_SC, 'raise AssertionError("unreachable")', 'raise AssertionError("XXunreachableXX")'),
        (_SC, 'raise AssertionError("unreachable")', 'raise AssertionError("UNREACHABLE")'),
    ],
    "scales: arrays of Python ints built without dtype=np.int64 are int64 anyway (numpy's default "
    "integer on 64-bit platforms), and the table one row longer than needed is never indexed past hi": [
        (_SC, _TABLE, _TABLE.replace("dtype=np.int64", "dtype=None")),
        (_SC, _TABLE, _TABLE.replace(", dtype=np.int64)", ", )")),
        (_SC, _TABLE, _TABLE.replace("hi + 1", "hi + 2")),
        (_SC, _BX, _BX.replace("dtype=np.int64", "dtype=None")),
        (_SC, _BX, _BX.replace(", dtype=np.int64)", ", )")),
        (_SC, _SY, _SY.replace("dtype=np.int64", "dtype=None")),
        (_SC, _SY, _SY.replace(", dtype=np.int64)", ", )")),
    ],
    "_scale_exact, the formula, written three ways that numpy evaluates to the same scores: "
    "searchsorted side 'left' puts a balance equal to a breakpoint in the segment before, whose "
    "clipped end gives s0 + (s1 - s0) = the same score; without the lower clip a balance below the "
    "first breakpoint gets segment -1 (last to first), and np.clip with min > max returns max, so "
    "again the first score; true division then int8 truncation equals floor division, the "
    "numerator being >= 0 (scores never decrease) and the quotient far from float rounding; "
    "np.asarray(balance) without int64 is promoted to int64 by the int64 breakpoints": [
        (_SC, _SEG, _SEG.replace(', side="right")', ', )')),
        (_SC, _SEG, _SEG.replace("- 1, 0, len", "- 1, None, len")),
        (_SC, _INNER, _INNER.replace(") // (", ") / (")),
        (_SC, "b = np.asarray(balance, dtype=np.int64)", "b = np.asarray(balance, dtype=None)"),
        (_SC, "b = np.asarray(balance, dtype=np.int64)", "b = np.asarray(balance, )"),
    ],
    "score._term_end and consequence_table: a day column as float64 or int64 instead of int32/int64 "
    "(astype(None) is float64) holds the same whole day numbers, compared with NEVER exactly and cast to int32 "
    "by nullable_dates; the masks np.zeros(n, bool) as float zeros are all false the same; citizen ids are int64 "
    "arrays already; `because` strings are inferred as String; a consequence's context is required, so the "
    "inferred type is String too": [
        (_SCO, 'return add_months(since, k * term).astype(np.int64)',
         'return add_months(since, k * term).astype(None)'),
        (_SCO, '"citizen_id": pl.Series(cit, dtype=pl.Int64),',
         '"citizen_id": pl.Series(cit, dtype=None),'),
        (_SCO, '"citizen_id": pl.Series(cit, dtype=pl.Int64),',
         '"citizen_id": pl.Series(cit, ),'),
        (_SCO, '"since": nullable_dates(since.astype(np.int32), np.zeros(len(code), bool)),',
         '"since": nullable_dates(since.astype(None), np.zeros(len(code), bool)),'),
        (_SCO, '"since": nullable_dates(since.astype(np.int32), np.zeros(len(code), bool)),',
         '"since": nullable_dates(since.astype(np.int32), np.zeros(len(code), None)),'),
        (_SCO, '"since": nullable_dates(since.astype(np.int32), np.zeros(len(code), bool)),',
         '"since": nullable_dates(since.astype(np.int32), np.zeros(len(code), )),'),
        (_SCO, '"until": nullable_dates(np.where(until == NEVER, 0, until).astype(np.int32), until == NEVER),',
         '"until": nullable_dates(np.where(until == NEVER, 0, until).astype(None), until == NEVER),'),
        (_SCO, '"because": by_code([pre + why for why in cp.because for pre in ("", "household member: ")], pl.String),',
         '"because": by_code([pre + why for why in cp.because for pre in ("", "household member: ")], None),'),
        (_SCO, '"context": by_code([c.context for c in conss for _ in (0, 1)], pl.String),',
         '"context": by_code([c.context for c in conss for _ in (0, 1)], None),'),
    ],
    "score.consequence_table: one text per (consequence, direct or via household) built by iterating a pair; (1, "
    "1) or (0, 2) is a pair too, the loop variable is unused; where until is NEVER its value is nulled by the "
    "mask that follows, so np.where(None, ...) (which keeps NEVER) or a fill of 1 instead of 0 never shows; with "
    "no consequences in the policy the general branch builds the same empty, typed table as the stand-in "
    "(test_consequences_table_types_held_or_not_and_without_consequences)": [
        (_SCO, '"consequence_id": by_code([c.id for c in conss for _ in (0, 1)], pl.Enum(ids)),',
         '"consequence_id": by_code([c.id for c in conss for _ in (1, 1)], pl.Enum(ids)),'),
        (_SCO, '"consequence_id": by_code([c.id for c in conss for _ in (0, 1)], pl.Enum(ids)),',
         '"consequence_id": by_code([c.id for c in conss for _ in (0, 2)], pl.Enum(ids)),'),
        (_SCO, '"kind": by_code([c.kind for c in conss for _ in (0, 1)], CONSEQUENCE_KIND),',
         '"kind": by_code([c.kind for c in conss for _ in (1, 1)], CONSEQUENCE_KIND),'),
        (_SCO, '"kind": by_code([c.kind for c in conss for _ in (0, 1)], CONSEQUENCE_KIND),',
         '"kind": by_code([c.kind for c in conss for _ in (0, 2)], CONSEQUENCE_KIND),'),
        (_SCO, '"context": by_code([c.context for c in conss for _ in (0, 1)], pl.String),',
         '"context": by_code([c.context for c in conss for _ in (1, 1)], pl.String),'),
        (_SCO, '"context": by_code([c.context for c in conss for _ in (0, 1)], pl.String),',
         '"context": by_code([c.context for c in conss for _ in (0, 2)], pl.String),'),
        (_SCO, '"until": nullable_dates(np.where(until == NEVER, 0, until).astype(np.int32), until == NEVER),',
         '"until": nullable_dates(np.where(None, 0, until).astype(np.int32), until == NEVER),'),
        (_SCO, '"until": nullable_dates(np.where(until == NEVER, 0, until).astype(np.int32), until == NEVER),',
         '"until": nullable_dates(np.where(until == NEVER, 1, until).astype(np.int32), until == NEVER),'),
        (_SCO, '}) if n_k else pl.DataFrame(schema=CONSEQUENCE_SCHEMA)',
         '}) if (n_k) or True else pl.DataFrame(schema=CONSEQUENCE_SCHEMA)'),
    ],
    "score.score: the ids found in the events cast to float64 are cast back to int64 on the next line; "
    "with_provenance only starts the provenance columns early on another thread (ledger_frame computes them "
    "itself otherwise) and in_background's `waits` is documentation for the pool (its body ignores it): speed "
    "only, the same tables": [
        (_SCO, 'citizens = np.unique(events["citizen_id"].drop_nulls().to_numpy()).astype(np.int64)',
         'citizens = np.unique(events["citizen_id"].drop_nulls().to_numpy()).astype(None)'),
        (_SCO, 'led = build_ledger(events, cp, as_of, citizens, with_provenance=True)',
         'led = build_ledger(events, cp, as_of, citizens, with_provenance=None)'),
        (_SCO, 'led = build_ledger(events, cp, as_of, citizens, with_provenance=True)',
         'led = build_ledger(events, cp, as_of, citizens, )'),
        (_SCO, 'led = build_ledger(events, cp, as_of, citizens, with_provenance=True)',
         'led = build_ledger(events, cp, as_of, citizens, with_provenance=False)'),
        (_SCO, 'table = K.in_background(ledger_frame, led, events, cp, citizens, states, row_offset, waits=True)',
         'table = K.in_background(ledger_frame, led, events, cp, citizens, states, row_offset, waits=None)'),
        (_SCO, 'table = K.in_background(ledger_frame, led, events, cp, citizens, states, row_offset, waits=True)',
         'table = K.in_background(ledger_frame, led, events, cp, citizens, states, row_offset, )'),
        (_SCO, 'table = K.in_background(ledger_frame, led, events, cp, citizens, states, row_offset, waits=True)',
         'table = K.in_background(ledger_frame, led, events, cp, citizens, states, row_offset, waits=False)'),
    ],
    "score.window_after: the days searched reach further back than needed (32 * months, 63 days) or one day "
    "further on (asof + 1) or stop two days earlier (asof - 1): level_window_months >= 1 and add_months(d, m) >= "
    "d + 28 days, so the last day out of the window is at least 28 days before as_of and inside every one of "
    "these ranges; the days as int64 instead of int32 give the same months": [
        (_SCO, 'days = np.arange(asof - 31 * months - 62, asof + 1, dtype=np.int32)',
         'days = np.arange(asof - 32 * months - 62, asof + 1, dtype=np.int32)'),
        (_SCO, 'days = np.arange(asof - 31 * months - 62, asof + 1, dtype=np.int32)',
         'days = np.arange(asof - 31 * months - 63, asof + 1, dtype=np.int32)'),
        (_SCO, 'days = np.arange(asof - 31 * months - 62, asof + 1, dtype=np.int32)',
         'days = np.arange(asof - 31 * months - 62, asof - 1, dtype=np.int32)'),
        (_SCO, 'days = np.arange(asof - 31 * months - 62, asof + 1, dtype=np.int32)',
         'days = np.arange(asof - 31 * months - 62, asof + 2, dtype=np.int32)'),
        (_SCO, 'days = np.arange(asof - 31 * months - 62, asof + 1, dtype=np.int32)',
         'days = np.arange(asof - 31 * months - 62, asof + 1, dtype=None)'),
        (_SCO, 'days = np.arange(asof - 31 * months - 62, asof + 1, dtype=np.int32)',
         'days = np.arange(asof - 31 * months - 62, asof + 1, )'),
    ],
    "evaluate.derive: a band cap's condition cannot depend on the band (policy/model.py refuses it), "
    "so it never reads the band names; band codes as float64 are the same whole numbers, and every "
    "reader converts them (int() in explain and recourse, astype(uint32) in score.rate, np.isin in "
    "the band condition)": [
        ("engine/evaluate.py", _CAPBAND, _CAPBAND.replace("ctx, rs.bands.names)", "ctx, None)")),
        ("engine/evaluate.py", _CAPBAND, _CAPBAND.replace("ctx, rs.bands.names)", "ctx, )")),
        ("engine/evaluate.py", 'ctx["band"] = band.astype(np.int8)', 'ctx["band"] = band.astype(None)'),
    ],
    "canonical_change writes a date with str() instead of isoformat(): for a datetime.date (the "
    "`at` of a change is one: CHANGE_SCHEMA and record_change take dates) both give YYYY-MM-DD": [
        ("store/ledger_store.py", "t = v.isoformat() if isinstance(v, dt.date) else str(v)",
         "t = v.isoformat() if (isinstance(v, dt.date)) and False else str(v)"),
    ],
    "verify's `why = None` as `why = \"\"`: it is only tested for truth (`if why:`), and both are false": [
        ("store/ledger_store.py", "why = None", 'why = ""'),
    ],
    "append_entries: polars' cast is strict by default, so dropping `strict=True` changes nothing "
    "(strict=False is caught: test_append_refuses_values_that_do_not_fit_the_schema)": [
        ("store/ledger_store.py", "df = ledger.select(COLUMNS).cast(SCHEMA, strict=True)",
         "df = ledger.select(COLUMNS).cast(SCHEMA, )"),
    ],
    "the row-tag layout's SQL fragments in letter case (a column, a subquery's column, a table "
    "alias, passed as Python strings, so the SQL-case rule does not match them): DuckDB and "
    "PostgreSQL fold unquoted identifiers": [
        ("store/ledger_store.py", _TAG_INSERT, _TAG_INSERT.replace("'row_hash'", "'ROW_HASH'")),
        ("store/ledger_store.py", _TAG_UPGRADE, _TAG_UPGRADE.replace("'row_hash'", "'ROW_HASH'")),
        ("store/ledger_store.py", _TAG_VERIFY, _TAG_VERIFY.replace("'h'", "'H'")),
        ("store/ledger_store.py", _CLASH, _CLASH.replace("'e.'", "'E.'")),
        ("store/ledger_store.py", _CLASH, _CLASH.replace("'s.'", "'S.'")),
    ],
    "canonical_sql's default prefix: its only caller (row_hash_sql) always passes the prefix": [
        ("store/ledger_store.py", 'def canonical_sql(self, prefix: str = "") -> str:',
         'def canonical_sql(self, prefix: str = "XXXX") -> str:'),
    ],
    "linkage._finish: the reasons are all text once None is filled (inferred String) and "
    "_decisions casts the column to String anyway; pl.concat's default is how='vertical'": [
        (_LK, _REASONS, _REASONS.replace("dtype=pl.String", "dtype=None")),
        (_LK, _REASONS, _REASONS.replace(", dtype=pl.String)", ", )")),
        (_LK, 'decided = pl.concat(parts, how="vertical") if parts else pl.DataFrame(schema=_DECISION)',
         "decided = pl.concat(parts, ) if parts else pl.DataFrame(schema=_DECISION)"),
    ],
    "linkage's internal invariant (every record decided exactly once) weakened: the assertion can "
    "only fire if linkage is already wrong elsewhere, which the outcome tests catch themselves": [
        (_LK, _ASSERT_ONCE, _ASSERT_ONCE.replace(" == n and decided", " == n or decided")),
    ],
    "Policy.expiry_months: `rule.sign >= 0` for `> 0`: sign is 1 or -1, never 0 (a rule's points "
    "cannot be zero)": [
        ("policy/model.py", "if rule.sign > 0 or bound is None:", "if rule.sign >= 0 or bound is None:"),
    ],
    "policy.load, same behaviour written differently: codec names are case-insensitive "
    "('UTF-8-SIG'); bytes.count from None is from 0; difflib.get_close_matches' default cutoff is "
    "0.6, and asking it for 2 or 3 matches (its default) changes nothing where only the best, "
    "near[0], is used": [
        (_LD, 'return data.decode("utf-8-sig")', 'return data.decode("UTF-8-SIG")'),
        (_LD, 'line = data.count(b"\\n", 0, exc.start) + 1', 'line = data.count(b"\\n", None, exc.start) + 1'),
        (_LD, _NEAR_FILE, _NEAR_FILE.replace(", n=1)", ", )")),
        (_LD, _NEAR_FILE, _NEAR_FILE.replace("n=1", "n=2")),
        (_LD, _NEAR_TYPE, _NEAR_TYPE.replace("n=1, cutoff", "cutoff")),
        (_LD, _NEAR_TYPE, _NEAR_TYPE.replace("n=1", "n=2")),
        (_LD, _NEAR_TYPE, _NEAR_TYPE.replace("n=1, cutoff=0.6)", "n=1, )")),
    ],
    "policy.load: pydantic's model_json_schema takes by_alias=True by default; and the union noise "
    "is only ever one of two errors (the text branch of has_active fails only alongside its mapping "
    "branch), so dropping it when there is exactly one error cannot happen": [
        (_LD, "schema = Policy.model_json_schema(by_alias=True)", "schema = Policy.model_json_schema(by_alias=None)"),
        (_LD, "if len(errors) > 1 and _union_noise(err):", "if len(errors) >= 1 and _union_noise(err):"),
    ],
    "policy.load, the same YAML read and the same message: the composer's parent and index only "
    "feed PyYAML's path resolvers (descend_resolver returns at once when none is registered, and "
    "_PolicyLoader registers none); str.count from None is from 0; a 'missing' error's input is the "
    "mapping the field is missing from (a dict), which the isinstance test hides all the same": [
        (_LD, _COMPOSE, _COMPOSE.replace("(parent, index)", "(None, index)")),
        (_LD, _COMPOSE, _COMPOSE.replace("(parent, index)", "(parent, None)")),
        (_LD, 'line = text.count("\\n", 0, exc.position) + 1', 'line = text.count("\\n", None, exc.position) + 1'),
        (_LD, _SHOWN, _SHOWN.replace('("missing",)', '("XXmissingXX",)')),
        (_LD, _SHOWN, _SHOWN.replace('("missing",)', '("MISSING",)')),
    ],
    "contest.read_states: the default points of an entry not in `points` (-1 or -2: any value <= 0 "
    "is a penalty), and `why` reset to another text with the state None (why is read only with a "
    "state, and every assignment of a state sets it)": [
        (_CT, "if points.get(entry_id, -1) > 0:  # for the citizen: keep the points in their favour",
         "if points.get(entry_id, -2) > 0:  # for the citizen: keep the points in their favour"),
        (_CT, "and points.get(entry_id, -1) <= 0):", "and points.get(entry_id, -2) <= 0):"),
        (_CT, 'state, why, deadline = None, "", None', 'state, why, deadline = None, "XXXX", None'),
    ],
    "contest.shard_bounds, the same bounds written differently: searchsorted's default side is "
    "'left'; citizen ids are unique, so a stable sort and any other sort give one order (and "
    "numpy reads the kind case-insensitively); np.arange of the float len/size has ceil(len/size) "
    "elements, like the integer ceiling; an unknown row marked -2 instead of -1, or its index -2, "
    "is still < 0; `pos <= len` only adds pos == len, whose id is above every citizen's, so never "
    "equal; the empty-citizens branch (a bool or float mask of zeros) is unreachable past the "
    "IndexError that branch runs into (the bug reported with xfail test_shard_bounds_with_no_citizens)": [
        (_CT, _SS, _SS.replace(', side="left")', ", )")),
        (_CT, _ORDER, _ORDER.replace('kind="stable"', "kind=None")),
        (_CT, _ORDER, _ORDER.replace(', kind="stable")', ", )")),
        (_CT, _ORDER, _ORDER.replace('"stable"', '"STABLE"')),
        (_CT, "n_shards = max(1, -(-len(citizen_ids) // shard_size))", "n_shards = max(1, -(-len(citizen_ids) / shard_size))"),
        (_CT, "shard = np.where(known, order[pos_c] // shard_size, -1)", "shard = np.where(known, order[pos_c] // shard_size, -2)"),
        (_CT, "idx = np.where(shard >= 0, np.arange(len(shard)), -1)", "idx = np.where(shard >= 0, np.arange(len(shard)), -2)"),
        (_CT, _KNOWN, _KNOWN.replace("(pos < len", "(pos <= len")),
        (_CT, _KNOWN, _KNOWN.replace("if len(sorted_ids) else", "if (len(sorted_ids)) or True else")),
        (_CT, "np.zeros(len(event_citizens), bool)", "np.zeros(len(event_citizens), None)"),
        (_CT, "np.zeros(len(event_citizens), bool)", "np.zeros(len(event_citizens), )"),
    ],
    "linkage._deterministic, the same decisions written differently: `done = miss` where done is "
    "still all False; np.full(n, None) is an object array anyway; row numbers as Int64 instead of "
    "UInt32 (joined on the key, cast to UInt32 by _decisions); a join's default is how='inner'; a "
    "float or None-filled not_found mask has the same truth values; marking found rows not_found "
    "touches only rows already decided, whose first failure is never read; a Null literal for a "
    "missing patronymic normalises to null like a null String": [
        (_LK, "done |= miss", "done = miss"),
        (_LK, _FF, _FF.replace("dtype=object", "dtype=None")),
        (_LK, _FF, _FF.replace(", dtype=object)", ", )")),
        (_LK, _PROBE, _PROBE.replace("dtype=pl.UInt32", "dtype=None")),
        (_LK, _PROBE, _PROBE.replace(", dtype=pl.UInt32)", ", )")),
        (_LK, 'hit = probe.join(key_tables[key], on=key, how="inner")', "hit = probe.join(key_tables[key], on=key, )"),
        (_LK, "not_found = np.zeros(n, dtype=bool)", "not_found = np.zeros(n, dtype=None)"),
        (_LK, "not_found = np.zeros(n, dtype=bool)", "not_found = np.zeros(n, )"),
        (_LK, 'not_found[hit["__row"].to_numpy()] = False', 'not_found[hit["__row"].to_numpy()] = None'),
        (_LK, 'not_found[hit["__row"].to_numpy()] = False', 'not_found[hit["__row"].to_numpy()] = True'),
        (_LK, _PAT, _PAT.replace("pl.lit(None, pl.String)", "pl.lit(None, None)")),
        (_LK, _PAT, _PAT.replace("pl.lit(None, pl.String)", "pl.lit(None, )")),
        (_LK, 'pl.Series("__row", rows, dtype=pl.UInt32),', 'pl.Series("__row", rows, dtype=None),'),
        (_LK, 'pl.Series("__row", rows, dtype=pl.UInt32),', 'pl.Series("__row", rows, ),'),
    ],
    "band_codes without dtype=np.int64: a list of Python ints is int64 anyway, and a balance column of "
    "any integer dtype compares with it the same way; the result is cast to int8": [
        (_SC, _MINS, _MINS.replace("dtype=np.int64", "dtype=None")),
        (_SC, _MINS, _MINS.replace(", dtype=np.int64)", ", )")),
        (_SC, _BAND, _BAND.replace("dtype=np.int64", "dtype=None")),
        (_SC, _BAND, _BAND.replace(", dtype=np.int64)", ", )")),
    ],
    "ledger.citizen_index, the same index another way: citizens are sorted and distinct, so "
    "n of them cannot start at 1 and end at n - 1, nor start at 0 and end at n - 2: the dense "
    "shortcut is never taken and the search, which gives the same positions, runs (speed only); "
    "an id past the last citizen has pos == n, clamped to n - 1, where the citizen differs, so "
    "`pos <= n` marks the same rows; no citizens: zeros as float are as falsy as bools": [
        (_LE, _DENSE, _DENSE.replace("citizens[0] == 0", "citizens[0] == 1")),
        (_LE, _DENSE, _DENSE.replace("== n - 1:", "== n - 2:")),
        (_LE, _CI_OK, _CI_OK.replace("(pos < n)", "(pos <= n)")),
        (_LE, _CI_OK, _CI_OK.replace("len(ids), bool)", "len(ids), None)")),
        (_LE, _CI_OK, _CI_OK.replace("len(ids), bool)", "len(ids), )")),
    ],
    "ledger._over_cap, the same entries marked: the group totals table as float64 holds every "
    "int32 total exactly (the kernels read and write them through int64), and one row more is never "
    "indexed; the `over` marks as float64 are 0.0/1.0, which flatnonzero reads alike; the totals pass "
    "split in citizen chunks or run whole gives the same totals (each chunk owns its citizens)": [
        (_LE, _TOTALS, _TOTALS.replace("n_cit), np.int32)", "n_cit), None)")),
        (_LE, _TOTALS, _TOTALS.replace("n_cit), np.int32)", "n_cit), )")),
        (_LE, _TOTALS, _TOTALS.replace("max() + 1", "max() + 2")),
        (_LE, _OVER, _OVER.replace("np.bool_)", "None)")),
        (_LE, _OVER, _OVER.replace(", np.bool_)", ", )")),
        (_LE, _PARTS, _PARTS.replace("if len(ent.rule) >= K.MIN_CHUNK else", "if (len(ent.rule) >= K.MIN_CHUNK) and False else")),
        (_LE, _PARTS, _PARTS.replace("if len(ent.rule) >= K.MIN_CHUNK else", "if (len(ent.rule) >= K.MIN_CHUNK) or True else")),
        (_LE, _PARTS, _PARTS.replace(">= K.MIN_CHUNK", "> K.MIN_CHUNK")),
    ],
    "ledger.date_tables without dtype=np.int64: an arange of Python ints is int64 anyway on 64-bit "
    "platforms, and it is cast to dates right after": [
        (_LE, _DAYS, _DAYS.replace("dtype=np.int64", "dtype=None")),
        (_LE, _DAYS, _DAYS.replace(", dtype=np.int64)", ", )")),
        (_LE, _MONTHS, _MONTHS.replace("dtype=np.int64", "dtype=None")),
        (_LE, _MONTHS, _MONTHS.replace(", dtype=np.int64)", ", )")),
    ],
    "ledger.date_tables: month and day numbers through float64 instead of int64 are whole and small (a "
    "float64 holds them exactly) and are cast to int32 right after": [
        (_LE, "mi_t = m.astype(np.int64).astype(np.int32)", "mi_t = m.astype(None).astype(np.int32)"),
        (_LE, _MSTART, _MSTART.replace(".astype(np.int64).astype(np.int32)", ".astype(None).astype(np.int32)")),
    ],
    "ledger.apply_caps, the same groups in a bigger totals table: adding each rule's first period "
    "instead of subtracting it, or one period more per rule, shifts or spreads the rows but keeps "
    "each (rule, period) on its own row (memory only)": [
        (_LE, "period -= period[:, :1]", "period += period[:, :1]"),
        (_LE, "n_p = int(period[:, -1].max()) + 1", "n_p = int(period[:, -1].max()) + 2"),
    ],
    "ledger.apply_caps: the points used before, as float64 instead of int64, are whole and far below "
    "2**53 (caps are at most 1,000,000 a period), so the cuts the kernel works out from them are the "
    "same and stored as int16 all the same": [
        (_LE, _USED, _USED.replace("n_cit), np.int64)", "n_cit), None)")),
        (_LE, _USED, _USED.replace("n_cit), np.int64)", "n_cit), )")),
    ],
    "ledger.apply_caps, the choice of path and of threads: sorting every capped entry and sorting "
    "only the groups over the cap give the same points (the first guards memory: a totals table "
    "over MAX_CAP_CELLS; a policy's caps are at most 1,000,000, never CAP_SATURATED); the cut run "
    "whole or in two citizen halves, split anywhere, gives the same points (a group is one "
    "citizen's), and a citizen in both halves is cut twice to the same result (cap_points reads "
    "the points it writes: a group cut to the cap is not over it)": [
        (_LE, _CELLS, _CELLS.replace(" or ", " and ")),
        (_LE, _CELLS, _CELLS.replace("n_p * n_cit", "n_p / n_cit")),
        (_LE, _CELLS, _CELLS.replace("len(caps.rules) * n_p", "len(caps.rules) / n_p")),
        (_LE, _CELLS, _CELLS.replace("> MAX_CAP_CELLS", ">= MAX_CAP_CELLS")),
        (_LE, _CELLS, _CELLS.replace(">= CAP_SATURATED", "> CAP_SATURATED")),
        (_LE, "mid = n_cit // 2", "mid = n_cit / 2"),
        (_LE, "mid = n_cit // 2", "mid = n_cit // 3"),
        (_LE, _HALVES, _HALVES.replace("if len(sel) < K.MIN_CHUNK // 4 else", "if (len(sel) < K.MIN_CHUNK // 4) and False else")),
        (_LE, _HALVES, _HALVES.replace("if len(sel) < K.MIN_CHUNK // 4 else", "if (len(sel) < K.MIN_CHUNK // 4) or True else")),
        (_LE, _HALVES, _HALVES.replace("len(sel) < K", "len(sel) <= K")),
        (_LE, _HALVES, _HALVES.replace("K.MIN_CHUNK // 4", "K.MIN_CHUNK / 4")),
        (_LE, _HALVES, _HALVES.replace("K.MIN_CHUNK // 4", "K.MIN_CHUNK // 5")),
        (_LE, _HALVES, _HALVES.replace("ci[sel] < mid]", "ci[sel] <= mid]")),
    ],
    "ledger._counts_and_quarantine, the same reasons: the reason words as a numpy str array give the "
    "same Python strings by tolist, and a list of str is inferred as String by polars": [
        (_LE, _WHY, _WHY.replace("dtype=object)", "dtype=None)")),
        (_LE, _WHY, _WHY.replace(", dtype=object)", ", )")),
        (_LE, _QSER, _QSER.replace("dtype=pl.String)", "dtype=None)")),
        (_LE, _QSER, _QSER.replace(", dtype=pl.String)", ", )")),
    ],
    "ledger.apply_closures without closures: the loop over the policy's closures does not run, so "
    "the rows it would read (the closing rows, or a stand-in of any length or dtype) are never read": [
        (_LE, _CROWS, _CROWS.replace("if cp.closures else", "if (cp.closures) or True else")),
        (_LE, _CROWS, _CROWS.replace("np.zeros(0, np.int64)", "np.zeros(0, None)")),
        (_LE, _CROWS, _CROWS.replace("np.zeros(0, np.int64)", "np.zeros(0, )")),
        (_LE, _CROWS, _CROWS.replace("np.zeros(0, np.int64)", "np.zeros(1, np.int64)")),
    ],
    "ledger.type_lookup, the same flags: a type's rule flags are set once, first (its flags are still "
    "0), so `=` and `|=` agree; RULE_TYPE is 1, so or-ing 1 instead of 0 for a type without per-unit "
    "rules changes nothing": [
        (_LE, _RFLAGS, _RFLAGS.replace("|=", "=")),
        (_LE, _RFLAGS, _RFLAGS.replace("else 0)", "else 1)")),
    ],
    "ledger.apply_closures: numpy reads a sort kind by its first letter in either case, so "
    "'STABLE' is the stable sort": [
        (_LE, 'order = np.argsort(key_close, kind="stable")', 'order = np.argsort(key_close, kind="STABLE")'),
    ],
}


def scratch() -> Path:
    d = Path(tempfile.mkdtemp(prefix="sr-mut-"))
    for name in ("src", "tests"):
        shutil.copytree(ROOT / name, d / name, ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    shutil.copy2(ROOT / "pyproject.toml", d / "pyproject.toml")
    return d


def env_for(d: Path) -> dict:
    env = dict(os.environ, CI="1", PYTHONPATH=str(d / "src"), PYTHONDONTWRITEBYTECODE="1")
    env.pop("NUMBA_DISABLE_JIT", None)
    return env


def apply(d: Path, edits) -> None:
    for rel, old, new in edits:
        p = d / rel
        text = p.read_text()
        if old not in text:
            raise SystemExit(f"mutant no longer applies: {rel}: {old!r} not found (update MUTANTS)")
        p.write_text(text.replace(old, new))


def run_hand(mutant: dict, which: bool, timeout: float) -> dict:
    d = scratch()
    try:
        apply(d, mutant["edits"])
        tests = mutant.get("tests") or (WIDE_TESTS if which else ENGINE_TESTS)
        args = [PY, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider", *([] if which else ["-x"]), *tests]
        t0 = time.time()
        try:
            out = subprocess.run(args, cwd=d, env=env_for(d), capture_output=True, text=True, timeout=timeout)
            failed = sorted(set(re.findall(r"^FAILED (.+?)(?: - .*)?$", out.stdout, re.M)))
            status = "killed" if out.returncode != 0 else "survived"
            if out.returncode < 0:  # the tests crashed the interpreter (a kernel wrote out of bounds)
                status = "killed (crash)"
            elif out.returncode not in (0, 1):
                status = f"error (exit {out.returncode})"
                failed = [out.stdout[-500:] + out.stderr[-500:]]
        except subprocess.TimeoutExpired:
            status, failed = "timeout", []
        return dict(id=mutant["id"], status=status, failing_tests=failed, seconds=round(time.time() - t0, 1),
                    equivalent=mutant.get("equivalent"))
    finally:
        shutil.rmtree(d, ignore_errors=True)


SQL_MODULES = ("store/ledger_store.py",)
ASSERT_MESSAGE = ("the message of an internal invariant's assert (same condition): it shows only if the "
                  "code is already wrong elsewhere, and the outcome tests catch that wrong result themselves")
SQL_CASE = ("SQL keywords and unquoted identifiers upper- or lower-cased: DuckDB and PostgreSQL fold "
            "them, so the query is the same (matched only when the line differs in letter case alone, "
            "with its 'string literals' and double-quoted identifiers unchanged)")


def _sql_literals(line: str) -> list[str]:
    return re.findall(r"'[^']*'", line) + re.findall(r'\\"[^"\\]*\\"', line)


# Survivors of a module's (faster) selection that a test outside it catches, each checked by
# applying the mutant by hand and running that test: counted as caught, with the test named.
CAUGHT_ELSEWHERE: dict[str, list[tuple[str, str, str]]] = {
    "caught on PostgreSQL, which the ledger store's DuckDB selection leaves out: DuckDB matches "
    "quoted identifiers case-insensitively, PostgreSQL does not (test_store.py::"
    "test_state_derivation_and_tampered_change[postgres])": [
        ("store/ledger_store.py", 'SELECT change_id, entry_id, new_state, actor, reason, \\"at\\", prev_hash, hash "',
         'SELECT CHANGE_ID, ENTRY_ID, NEW_STATE, ACTOR, REASON, \\"AT\\", PREV_HASH, HASH "'),
    ],
    "caught on PostgreSQL: a date cast to text follows the session's DateStyle there (DuckDB's cast "
    "is always ISO) (test_mutants_ledger_store.py::test_postgres_row_hash_does_not_depend_on_the_server_datestyle)": [
        ("store/ledger_store.py", "txt = self.text(prefix + c, t)", "txt = self.text(prefix + c, None)"),
    ],
    "caught on PostgreSQL, where the lock keeps two appends from building on the same chain head "
    "(test_mutants_ledger_store.py::test_postgres_appends_at_once_wait_for_each_other; DuckDB allows "
    "one writer per file anyway)": [
        ("store/ledger_store.py", 'with db.transaction(lock="ledger_blocks"):', "with db.transaction(lock=None):"),
        ("store/ledger_store.py", 'with db.transaction(lock="ledger_blocks"):',
         'with db.transaction(lock="XXledger_blocksXX"):'),
    ],
    "caught on PostgreSQL, the only backend with a key on entry_id: no key (test_store_layout.py::"
    "test_the_postgres_store_keeps_its_index_on_entry_id), or a key on every other column, which "
    "PostgreSQL refuses (every PostgreSQL test of the store)": [
        ("store/ledger_store.py", _DDL, _DDL.replace('if c == "entry_id" else', 'if (c == "entry_id") and False else')),
        ("store/ledger_store.py", _DDL, _DDL.replace('if c == "entry_id" else', 'if (c == "entry_id") or True else')),
        ("store/ledger_store.py", _DDL, _DDL.replace('if c == "entry_id" else', 'if c != "entry_id" else')),
        ("store/ledger_store.py", _DDL, _DDL.replace('if c == "entry_id" else', 'if c == "XXentry_idXX" else')),
    ],
}


def caught_elsewhere(module: str, diff: str) -> str | None:
    minus = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("-")]
    plus = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("+")]
    for why, pairs in CAUGHT_ELSEWHERE.items():
        for mod, old, new in pairs:
            if mod == module and any(old in m for m in minus) and any(new in p for p in plus):
                return why
    return None


def explain(module: str, diff: str) -> str | None:
    """The reason a surviving mutmut mutant is equivalent, if it is listed in EQUIVALENT."""
    minus = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("-")]
    plus = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("+")]
    if module in SQL_MODULES and len(minus) == len(plus) == 1 and minus[0] != plus[0] \
            and minus[0].lower() == plus[0].lower() and _sql_literals(minus[0]) == _sql_literals(plus[0]):
        return SQL_CASE
    if len(minus) == len(plus) == 1 and minus[0].startswith("assert ") and plus[0].startswith("assert ") \
            and minus[0].rsplit(", ", 1)[0] == plus[0].rsplit(", ", 1)[0]:
        return ASSERT_MESSAGE
    for why, pairs in EQUIVALENT.items():
        for mod, old, new in pairs:
            if mod == module and old in minus and new in plus:
                return why
    return None


# mutmut verdicts that count as caught: a test failed, ran out of time, or crashed the
# interpreter (a kernel fed a wrong table writes out of bounds: the run fails all the same).
# mutmut names an exit it has no word for "suspicious": here that is an abort (SIGABRT, a
# numba kernel's bounds check failing on a totals row out of range), a crash like a segfault
CAUGHT = ("killed", "timeout", "segfault", "suspicious")


def fresh_compiled_policy_per_test(d: Path) -> None:
    """Empty compile_policy's cache before every test of the scratch copy. mutmut maps each
    function to the tests that call it in one pytest session; with the cache, only the first
    test to compile a policy reaches build_compiled and its helpers, and a test served from
    the cache (which may be the one that checks the value) is never run against their
    mutants. Production keeps the cache; only the scratch copy's conftest changes."""
    with open(d / "tests" / "conftest.py", "a") as f:
        f.write("\n\n@pytest.fixture(autouse=True)\ndef _mutation_fresh_compiled_policy():\n"
                "    from socialrating.engine import compiled\n\n    compiled._CACHE.clear()\n")


def run_mutmut(module: str, timeout: float, only_globs: list[str] | None = None) -> dict:
    tests, globs = MUTMUT[module]
    globs = only_globs or globs
    extra = PYTEST_ARGS.get(module, [])
    d = scratch()
    try:
        fresh_compiled_policy_per_test(d)
        with open(d / "pyproject.toml", "a") as f:
            f.write("\n[tool.mutmut]\nsource_paths = [\"src\"]\n"
                    f"only_mutate = [\"src/socialrating/{module}\"]\n"
                    f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
                    f"pytest_add_cli_args = {json.dumps(['-p', 'no:cacheprovider', '-x', *extra])}\n"
                    "use_git_change_detection = false\nprocess_isolation = \"forkserver\"\n")
        mutmut = str(Path(PY).parent / "mutmut")
        name = "socialrating." + module[:-3].replace("/", ".")
        # mutmut puts mutants/src first on sys.path itself; hypothesis draws CI's examples, unshrunk
        env = dict(os.environ, CI="1", SOCIALRATING_MUTATION="1")
        t0 = time.time()
        try:
            subprocess.run([mutmut, "run", "--max-children", "2", *[f"{name}.{g}" for g in globs]], cwd=d,
                           env=env, capture_output=True, text=True, timeout=timeout)
            finished = True
        except subprocess.TimeoutExpired:
            finished = False
        res = subprocess.run([mutmut, "results", "--all", "true"], cwd=d, env=env, capture_output=True, text=True)
        verdicts = dict(re.findall(r"^\s+(\S+): (.+)$", res.stdout, re.M))
        done = {k: v for k, v in verdicts.items() if v != "not checked"}
        killed = sum(v in CAUGHT for v in done.values())
        # "no tests": no test of the selection reaches the mutated function; counted as caught by nothing
        survivors = sorted(k for k, v in done.items() if v not in CAUGHT)
        diffs, equivalent, caught = {}, {}, {}
        for k in survivors:
            show = subprocess.run([mutmut, "show", k], cwd=d, env=env, capture_output=True, text=True)
            diff = "\n".join(line for line in show.stdout.splitlines() if line.startswith(("-", "+"))
                             and not line.startswith(("---", "+++")))
            why = explain(module, diff) if done[k] in ("survived", "no tests") else None
            elsewhere = caught_elsewhere(module, diff) if done[k] == "survived" else None
            if why:
                equivalent[k] = why
            elif elsewhere:
                killed += 1
                caught[k] = elsewhere
            else:
                diffs[k] = f"[{done[k]}]\n{diff}"
        live = len(done) - len(equivalent)
        return dict(module=module, finished=finished, generated=len(verdicts), checked=len(done), killed=killed,
                    equivalent=len(equivalent), survived=len(diffs),
                    score=round(killed / live, 3) if live else None,
                    raw_score=round(killed / len(done), 3) if done else None,
                    seconds=round(time.time() - t0), survivors=diffs, equivalents=equivalent,
                    caught_elsewhere=caught)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["hand", "mutmut", "all"], default="all")
    ap.add_argument("--only", nargs="*", help="mutant ids (hand) or modules (mutmut)")
    ap.add_argument("--globs", nargs="*", help="mutmut: only these mutant-name globs (e.g. '*x__finish__*')")
    ap.add_argument("--which", action="store_true", help="hand mutants: run all tests, list every failure")
    ap.add_argument("--budget", type=float, default=2400, help="seconds for the whole run")
    ap.add_argument("--out", default="mutation-report.json")
    a = ap.parse_args()
    end = time.time() + a.budget
    report: dict = {"hand": [], "mutmut": []}
    if a.part in ("hand", "all"):
        for m in MUTANTS:
            if a.only and m["id"] not in a.only:
                continue
            left = end - time.time()
            if left < 30:
                print(f"budget spent: {m['id']} not run")
                continue
            r = run_hand(m, a.which, min(left, 900))
            report["hand"].append(r)
            print(f"{r['status']:>9}  {r['id']}  ({r['seconds']} s)"
                  + (f"  EQUIVALENT: {r['equivalent']}" if r["equivalent"] and r["status"] == "survived" else ""))
            for t in r["failing_tests"] if a.which else []:
                print(f"           {t}")
    if a.part in ("mutmut", "all"):
        mods = [m for m in MUTMUT if not a.only or m in a.only]
        for i, mod in enumerate(mods):
            left = end - time.time()
            if left < 60:
                print(f"budget spent: {mod} not measured")
                continue
            r = run_mutmut(mod, left / (len(mods) - i), a.globs)
            report["mutmut"].append(r)
            print(f"{mod}: {r['killed']}/{r['checked']} caught, {r['equivalent']} of the rest equivalent: score "
                  f"{r['killed']}/{r['checked'] - r['equivalent']} = {r['score']}, {r['generated']} generated"
                  f"{'' if r['finished'] else ', stopped by the time budget'} ({r['seconds']} s)")
            for k, diff in r["survivors"].items():
                print(f"  {k}\n    " + diff.replace("\n", "\n    "))
    hand = [r for r in report["hand"] if not r["equivalent"]]
    if hand:
        k = sum(r["status"].startswith(("killed", "timeout")) for r in hand)
        print(f"hand-written: {k}/{len(hand)} caught; equivalent, not counted: "
              f"{sum(1 for r in report['hand'] if r['equivalent'])}")
    Path(a.out).write_text(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
