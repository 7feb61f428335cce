"""Russian full names as small integer codes plus a dictionary.

People carry ``surname`` (int32), ``given_name`` (int16) and ``patronymic``
(int16) codes; strings are produced only for output.

* Surnames: a short embedded list of common surnames (masculine form; the
  feminine form is derived: -ов/-ев/-ин -> -ова/-ева/-ина, -ский -> -ская,
  -ой -> -ая, others unchanged) followed by a long tail of synthetic,
  Russian-sounding surnames built from syllables.  Codes are ranks of a
  Zipf-Mandelbrot law ``p(k) ~ (k + q) ** -s``.
* Given names: separate male and female lists (codes index the list for the
  person's sex), also Zipf-Mandelbrot.
* Patronymic: the code of the *father's* given name (index into the male
  list); its label is the male or female patronymic form.

Namesake assumption.  No official figure exists for how often two Russians
share surname, given name, patronymic and birth date.  The defaults (surname
ranks ``s=0.8, q=3``: top surname ~1.3%, top 100 ~24% of people, ~11,500
surnames; given names ``s=1, q=3``: top name ~9% of its sex) are assumptions.
``expected_namesake_rate`` then gives, for one sex of a 146M population
(73M people), about 0.4% of people with a "full name + birth date" twin, and
about 90% sharing their full name (without birth date) with someone else;
in a 200k sample a full-name + birth-date twin is very rare (order 1e-5).
Full-name namesakes being common is what makes name-based record linkage error
prone; the birth date removes most, but not all, of the ambiguity.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np
import polars as pl

_REAL_SURNAMES = (
    "Смирнов Иванов Кузнецов Соколов Попов Лебедев Козлов Новиков Морозов Петров Волков Соловьёв "
    "Васильев Зайцев Павлов Семёнов Голубев Виноградов Богданов Воробьёв Фёдоров Михайлов Беляев "
    "Тарасов Белов Комаров Орлов Киселёв Макаров Андреев Ковалёв Ильин Гусев Титов Кузьмин Кудрявцев "
    "Баранов Куликов Алексеев Степанов Яковлев Сорокин Сергеев Романов Захаров Борисов Королёв "
    "Герасимов Пономарёв Григорьев Лазарев Медведев Ершов Никитин Соболев Рябов Поляков Цветков "
    "Данилов Жуков Фролов Журавлёв Николаев Крылов Максимов Сидоров Осипов Белоусов Федотов Дорофеев "
    "Егоров Матвеев Бобров Дмитриев Калинин Анисимов Петухов Антонов Тимофеев Никифоров Веселов "
    "Филиппов Марков Большаков Суханов Миронов Ширяев Александров Коновалов Шестаков Казаков Ефимов "
    "Денисов Громов Фомин Давыдов Мельников Щербаков Блинов Колесников Шевченко Бондаренко Ковальчук "
    "Черных Толстой Вишневский Каримов Хабибуллин Алиев Магомедов"
).split()

_ROOTS_A = (
    "Бел Бор Вас Вол Гор Гол Дор Жар Зар Кал Кар Кос Кур Лап Лес Лук Мал Мар Мор Нес Ост Пал Пар Пес "
    "Рад Рож Сав Сел Сит Ток Тар Уш Фил Хар Хол Чер Чуд Шар Шум Щег Яр Бур Дуб Кол Сух Гриб Вет Мох"
).split()
_ROOTS_B = ("", "ан", "ен", "ин", "он", "ун", "ик", "ач", "уш", "ят", "ол", "ер", "ар", "ищ", "ох", "от", "ав", "ыш", "ал", "ок")
_ENDINGS = ("ов", "ин", "ский", "енко", "ук", "ых", "ев", "ицкий", "ян", "ко", "ышев", "урин")

_MALE = (
    ("Александр", "Александрович", "Александровна"),
    ("Сергей", "Сергеевич", "Сергеевна"),
    ("Дмитрий", "Дмитриевич", "Дмитриевна"),
    ("Андрей", "Андреевич", "Андреевна"),
    ("Алексей", "Алексеевич", "Алексеевна"),
    ("Владимир", "Владимирович", "Владимировна"),
    ("Евгений", "Евгеньевич", "Евгеньевна"),
    ("Николай", "Николаевич", "Николаевна"),
    ("Михаил", "Михайлович", "Михайловна"),
    ("Иван", "Иванович", "Ивановна"),
    ("Максим", "Максимович", "Максимовна"),
    ("Игорь", "Игоревич", "Игоревна"),
    ("Артём", "Артёмович", "Артёмовна"),
    ("Юрий", "Юрьевич", "Юрьевна"),
    ("Олег", "Олегович", "Олеговна"),
    ("Виктор", "Викторович", "Викторовна"),
    ("Павел", "Павлович", "Павловна"),
    ("Денис", "Денисович", "Денисовна"),
    ("Роман", "Романович", "Романовна"),
    ("Антон", "Антонович", "Антоновна"),
    ("Анатолий", "Анатольевич", "Анатольевна"),
    ("Вячеслав", "Вячеславович", "Вячеславовна"),
    ("Константин", "Константинович", "Константиновна"),
    ("Илья", "Ильич", "Ильинична"),
    ("Никита", "Никитич", "Никитична"),
    ("Валерий", "Валерьевич", "Валерьевна"),
    ("Виталий", "Витальевич", "Витальевна"),
    ("Владислав", "Владиславович", "Владиславовна"),
    ("Кирилл", "Кириллович", "Кирилловна"),
    ("Василий", "Васильевич", "Васильевна"),
    ("Пётр", "Петрович", "Петровна"),
    ("Геннадий", "Геннадьевич", "Геннадьевна"),
    ("Леонид", "Леонидович", "Леонидовна"),
    ("Борис", "Борисович", "Борисовна"),
    ("Григорий", "Григорьевич", "Григорьевна"),
    ("Степан", "Степанович", "Степановна"),
    ("Фёдор", "Фёдорович", "Фёдоровна"),
    ("Георгий", "Георгиевич", "Георгиевна"),
    ("Станислав", "Станиславович", "Станиславовна"),
    ("Руслан", "Русланович", "Руслановна"),
    ("Вадим", "Вадимович", "Вадимовна"),
    ("Егор", "Егорович", "Егоровна"),
    ("Тимур", "Тимурович", "Тимуровна"),
    ("Матвей", "Матвеевич", "Матвеевна"),
    ("Лев", "Львович", "Львовна"),
    ("Даниил", "Даниилович", "Данииловна"),
    ("Ринат", "Ринатович", "Ринатовна"),
    ("Магомед", "Магомедович", "Магомедовна"),
)
_FEMALE = (
    "Елена Ольга Наталья Татьяна Ирина Светлана Анна Мария Екатерина Юлия Анастасия Марина Людмила "
    "Галина Валентина Надежда Любовь Вера Нина Оксана Евгения Дарья Ксения Александра Виктория Алина "
    "Полина Елизавета Софья Алёна Кристина Валерия Лариса Тамара Зинаида Раиса Лидия Антонина Жанна "
    "Инна Маргарита Вероника Ангелина Диана Гульнара Зарема"
).split()

MALE_GIVEN_NAMES: tuple[str, ...] = tuple(m[0] for m in _MALE)
FEMALE_GIVEN_NAMES: tuple[str, ...] = tuple(_FEMALE)
PATRONYMICS_MALE: tuple[str, ...] = tuple(m[1] for m in _MALE)
PATRONYMICS_FEMALE: tuple[str, ...] = tuple(m[2] for m in _MALE)

#: Zipf-Mandelbrot defaults (assumptions, see module docstring)
SURNAME_ZIPF = (0.8, 3.0)
GIVEN_NAME_ZIPF = (1.0, 3.0)


def feminine_surname(s: str) -> str:
    for end, fem in (("ский", "ская"), ("цкий", "цкая"), ("ой", "ая")):
        if s.endswith(end):
            return s[: -len(end)] + fem
    if s.endswith(("ов", "ев", "ёв", "ин", "ын")):
        return s + "а"
    return s


@lru_cache(maxsize=1)
def surname_table() -> tuple[np.ndarray, np.ndarray]:
    """(masculine, feminine) surname labels indexed by surname code."""
    tail = []
    seen = set(_REAL_SURNAMES)
    for end, a, b in itertools.product(_ENDINGS, _ROOTS_A, _ROOTS_B):
        s = a + b + end
        if s not in seen:
            seen.add(s)
            tail.append(s)
    masc = np.array(list(_REAL_SURNAMES) + tail, dtype=object)
    fem = np.array([feminine_surname(s) for s in masc], dtype=object)
    return masc, fem


def n_surnames() -> int:
    return len(surname_table()[0])


def zipf_mandelbrot(k: int, s: float, q: float) -> np.ndarray:
    """Probabilities ``p(rank) ~ (rank + 1 + q) ** -s`` for ranks 0..k-1."""
    w = (np.arange(1, k + 1, dtype=np.float64) + q) ** -s
    return w / w.sum()


def _draw(p: np.ndarray, n: int, rng: np.random.Generator, dtype) -> np.ndarray:
    cdf = np.cumsum(p)
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random(n), side="right").astype(dtype)


def surname_probabilities(s: float = SURNAME_ZIPF[0], q: float = SURNAME_ZIPF[1]) -> np.ndarray:
    return zipf_mandelbrot(n_surnames(), s, q)


def given_name_probabilities(female: bool, s: float = GIVEN_NAME_ZIPF[0], q: float = GIVEN_NAME_ZIPF[1]) -> np.ndarray:
    return zipf_mandelbrot(len(FEMALE_GIVEN_NAMES if female else MALE_GIVEN_NAMES), s, q)


def draw_surnames(n: int, rng: np.random.Generator, s: float = SURNAME_ZIPF[0], q: float = SURNAME_ZIPF[1]) -> np.ndarray:
    """int32 surname codes."""
    return _draw(surname_probabilities(s, q), n, rng, np.int32)


def draw_given_names(female, rng: np.random.Generator, s: float = GIVEN_NAME_ZIPF[0], q: float = GIVEN_NAME_ZIPF[1]) -> np.ndarray:
    """int16 given-name codes; ``female`` is a bool array (codes index the list of the person's sex)."""
    female = np.asarray(female, dtype=bool)
    u = rng.random(female.shape)
    out = np.empty(female.shape, dtype=np.int16)
    for is_f in (False, True):
        cdf = np.cumsum(given_name_probabilities(is_f, s, q))
        cdf[-1] = 1.0
        sel = female == is_f
        out[sel] = np.searchsorted(cdf, u[sel], side="right")
    return out


def draw_patronymics(n: int, rng: np.random.Generator, s: float = GIVEN_NAME_ZIPF[0], q: float = GIVEN_NAME_ZIPF[1]) -> np.ndarray:
    """int16 patronymic codes (= a father's male given-name code)."""
    return _draw(given_name_probabilities(False, s, q), n, rng, np.int16)


def surname_labels(codes, female) -> np.ndarray:
    masc, fem = surname_table()
    codes = np.asarray(codes, dtype=np.int64)
    return np.where(np.asarray(female, dtype=bool), fem[codes], masc[codes])


def given_name_labels(codes, female) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.int64)
    m = np.array(MALE_GIVEN_NAMES, dtype=object)
    f = np.array(FEMALE_GIVEN_NAMES, dtype=object)
    female = np.asarray(female, dtype=bool)
    return np.where(female, f[np.minimum(codes, len(f) - 1)], m[np.minimum(codes, len(m) - 1)])


def patronymic_labels(codes, female) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.int64)
    return np.where(
        np.asarray(female, dtype=bool),
        np.array(PATRONYMICS_FEMALE, dtype=object)[codes],
        np.array(PATRONYMICS_MALE, dtype=object)[codes],
    )


def full_name_labels(surname, given_name, patronymic, female) -> np.ndarray:
    """'Surname Given Patronymic' strings for output."""
    a = surname_labels(surname, female)
    b = given_name_labels(given_name, female)
    c = patronymic_labels(patronymic, female)
    return np.array([f"{x} {y} {z}" for x, y, z in zip(a, b, c)], dtype=object)


def name_dictionary() -> dict[str, pl.DataFrame]:
    """The code -> label dictionaries as polars frames (for joins at output time)."""
    masc, fem = surname_table()
    return {
        "surname": pl.DataFrame({"code": np.arange(len(masc), dtype=np.int32), "male": masc.tolist(), "female": fem.tolist()}),
        "given_name_male": pl.DataFrame({"code": np.arange(len(MALE_GIVEN_NAMES), dtype=np.int16), "label": list(MALE_GIVEN_NAMES)}),
        "given_name_female": pl.DataFrame({"code": np.arange(len(FEMALE_GIVEN_NAMES), dtype=np.int16), "label": list(FEMALE_GIVEN_NAMES)}),
        "patronymic": pl.DataFrame(
            {"code": np.arange(len(_MALE), dtype=np.int16), "male": list(PATRONYMICS_MALE), "female": list(PATRONYMICS_FEMALE)}
        ),
    }


def expected_namesake_rate(
    n_people: float,
    birth_date_collision: float = 1.0 / (365.25 * 70.0),
    surname_zipf: tuple[float, float] = SURNAME_ZIPF,
    given_zipf: tuple[float, float] = GIVEN_NAME_ZIPF,
) -> float:
    """Expected share of people (one sex, ``n_people`` of them) with at least one other person
    sharing surname, given name, patronymic and birth date, if the three names are drawn
    independently.  ``birth_date_collision`` is the chance two random people share a birth
    date (about 1 / (365 * effective number of birth years)); pass 1.0 to get the rate of
    full-name namesakes regardless of birth date."""
    ps = surname_probabilities(*surname_zipf)
    pg = given_name_probabilities(False, *given_zipf)
    pp = given_name_probabilities(False, *given_zipf)
    lam = (n_people - 1) * birth_date_collision
    total = 0.0
    for g in pg:
        pc = ps[:, None] * (g * pp)[None, :]
        total += float(np.sum(pc * -np.expm1(-lam * pc)))
    return total
