"""Event categories that socialrating refuses to score, on purpose.

The project models what a social rating does with administrative records. It does not
model, and will not score, speech, social-media posts, political views, religion,
ethnicity, biometrics, CCTV or a person's location. A policy or an events table that
names such a category is refused with an error that says why, instead of being scored.
"""

from __future__ import annotations

#: Forbidden words, matched against every dotted part of an event type and against
#: rule categories. Each maps to the reason given in the error.
REFUSED: dict[str, str] = {
    "speech": "speech is out of scope: socialrating never scores what people say",
    "social_media": "social-media posts are out of scope (no analysis of speech)",
    "socialmedia": "social-media posts are out of scope (no analysis of speech)",
    "post": "social-media posts are out of scope (no analysis of speech)",
    "posts": "social-media posts are out of scope (no analysis of speech)",
    "political": "political views are out of scope (special category, 152-FZ Art. 10)",
    "politics": "political views are out of scope (special category, 152-FZ Art. 10)",
    "opinion": "opinions are out of scope (no analysis of speech or views)",
    "protest": "political activity is out of scope (special category, 152-FZ Art. 10)",
    "religion": "religious beliefs are out of scope (special category, 152-FZ Art. 10)",
    "religious": "religious beliefs are out of scope (special category, 152-FZ Art. 10)",
    "ethnicity": "ethnicity and nationality are out of scope (special category, 152-FZ Art. 10)",
    "nationality": "ethnicity and nationality are out of scope (special category, 152-FZ Art. 10)",
    "race": "race is out of scope (special category, 152-FZ Art. 10)",
    "biometric": "biometrics are out of scope (152-FZ Art. 11)",
    "biometrics": "biometrics are out of scope (152-FZ Art. 11)",
    "face": "face recognition is out of scope (biometrics, 152-FZ Art. 11)",
    "facial": "face recognition is out of scope (biometrics, 152-FZ Art. 11)",
    "cctv": "CCTV analysis is out of scope (biometrics and surveillance)",
    "location": "locating people is out of scope (no 'radar')",
    "geolocation": "locating people is out of scope (no 'radar')",
    "gps": "locating people is out of scope (no 'radar')",
    "radar": "locating people is out of scope (no 'radar')",
    "intimate": "intimate life is out of scope (special category, 152-FZ Art. 10)",
}


def refusal_reason(name: str) -> str | None:
    """Return why `name` (an event type or a category) is refused, or None if allowed."""
    for part in name.lower().replace("-", "_").split("."):
        if part in REFUSED:
            return REFUSED[part]
    return None


class RefusedCategoryError(ValueError):
    """Raised when input names an event category the project refuses to score."""
