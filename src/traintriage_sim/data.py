"""Realistic values that production messages and URLs carry.

Titles, user names, client IPs and search queries are the personal data the
redaction layer must later remove, so they look like the real thing (mixed
scripts, spaces, IPv4 and IPv6). All names are invented.
"""

from __future__ import annotations

import random

TITLES = (
    "Main_Page",
    "Albert_Einstein",
    "COVID-19_pandemic",
    "Berlin",
    "Zürich",
    "Москва",
    "東京都",
    "Île-de-France",
    "Ada_Lovelace",
    "Łódź",
    "São_Paulo",
    "Kraków",
    "Düsseldorf",
    "Αθήνα",
    "القاهرة",
    "Tel_Aviv",
    "Barcelona",
    "Climate_change",
    "List_of_countries_by_population",
    "Python_(programming_language)",
    "User:Anna_Kowalska/sandbox",
    "User_talk:Rhododendron42",
    "Talk:Climate_change",
    "File:Sunset_over_the_lake.jpg",
    "Category:Living_people",
    "Wikipedia:Village_pump_(technical)",
    "Template:Infobox_person",
    "Module:Citation/CS1",
    "Special:Search",
    "Help:Contents",
    "Portal:Current_events",
    "2020_Summer_Olympics",
    "Marie_Curie",
    "Nelson_Mandela",
    "Frida_Kahlo",
    "The_Beatles",
    "Mount_Everest",
    "Photosynthesis",
    "Johann_Sebastian_Bach",
    "Leonardo_da_Vinci",
    "Tōkyō_Tower",
    "Ñandú",
    "Ελλάδα",
    "서울특별시",
)
USERS = (
    "Anna Kowalska",
    "Rhododendron42",
    "MarkusBot",
    "Jean-Luc D.",
    "Sakura Tanaka",
    "Olufemi.A",
    "Ingrid Nilsson",
    "Piotr Zieliński",
    "WikiGnome1987",
    "Carlos Méndez",
    "Tamar Levi",
    "Li Wei",
    "Ekaterina Smirnova",
    "Oskar N.",
    "BlueWhale77",
    "Fatima Zahra",
    "Hendrik van Dijk",
    "Priya Raman",
    "Tomás O'Neill",
    "Kofi Mensah",
)
QUERIES = (
    "how to delete my account",
    "anna kowalska address",
    "wetter berlin morgen",
    "albert einstein quotes",
    "covid vaccine side effects",
    "mein passwort vergessen",
    "call +49 30 1234567",
    "john smith 1984 birth",
    "mount everest height",
    "recette crêpes",
    "東京 天気",
    "python list comprehension",
    "ingrid nilsson phone",
)
_FIRST_OCTETS = (
    24,
    31,
    37,
    46,
    62,
    67,
    73,
    77,
    82,
    85,
    88,
    91,
    98,
    109,
    151,
    176,
    178,
    185,
    188,
    195,
    203,
    212,
    217,
)


def ipv4(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST_OCTETS)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def client_ip(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return f"2a02:{rng.randrange(0x1000, 0xFFFF):x}:{rng.randrange(0xFFFF):x}:{rng.randrange(0xFFFF):x}::{rng.randrange(1, 0xFFF):x}"
    return ipv4(rng)


def title(rng: random.Random) -> str:
    return rng.choice(TITLES)


def user(rng: random.Random) -> str:
    return rng.choice(USERS)


def query(rng: random.Random) -> str:
    return rng.choice(QUERIES)


def db_ip(rng: random.Random) -> str:
    return f"10.64.{rng.choice((0, 16, 32, 48))}.{rng.randrange(20, 240)}"


def db_host(rng: random.Random) -> str:
    return f"db1{rng.randrange(100, 185)}"


def hex_id(rng: random.Random, n: int = 8) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def page_id(rng: random.Random) -> str:
    return str(rng.randrange(1000, 68_000_000))


def rev_id(rng: random.Random) -> str:
    return str(rng.randrange(900_000_000, 1_002_000_000))


def qid(rng: random.Random) -> str:
    return f"Q{rng.randrange(1, 105_000_000)}"


def ts14(rng: random.Random) -> str:
    return (
        f"202101{rng.randrange(10, 29)}{rng.randrange(24):02d}{rng.randrange(60):02d}{rng.randrange(60):02d}"
    )


def duration(rng: random.Random) -> str:
    return f"{rng.uniform(1.0, 60.0):.2f}"
