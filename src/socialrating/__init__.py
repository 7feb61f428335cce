"""socialrating: an open, auditable model of national social-rating schemes.

Data flows one way through the stage sub-packages:
identity -> population -> sources -> policy -> engine -> store -> simulate -> audit -> report -> web.
A lower stage never imports a higher one.
"""

__version__ = "0.1.0"
