"""Private: common English given-name nicknames and their formal names.

Used by :func:`crmkit.quality.standardise.first_name_root` so that "Bob" and "Robert"
compare as the same first name. The list is the usual hand-made kind (diminutives that
a UK or US CRM sees often); a nickname that belongs to several formal names maps to the
most common one. Keys and values are lower-case ASCII.
"""

from __future__ import annotations

__all__: list[str] = []  # private module

_FORMAL_TO_NICKNAMES: dict[str, tuple[str, ...]] = {
    "alexander": ("alex", "alec", "sandy", "xander"),
    "alexandra": ("alexa", "lexi", "sasha"),
    "andrew": ("andy", "drew"),
    "anthony": ("tony", "ant"),
    "barbara": ("barb", "babs"),
    "benjamin": ("ben", "benny", "benji"),
    "bradley": ("brad",),
    "catherine": ("cathy", "cath", "cat"),
    "charles": ("charlie", "chas", "chuck"),
    "charlotte": ("lottie", "charlie"),
    "christine": ("chris", "chrissie", "tina"),
    "christopher": ("chris", "kit", "topher"),
    "daniel": ("dan", "danny"),
    "david": ("dave", "davy"),
    "deborah": ("debbie", "deb", "debs"),
    "donald": ("don", "donnie"),
    "dorothy": ("dot", "dottie", "dolly"),
    "edward": ("ed", "eddie", "ted", "ned"),
    "elizabeth": ("liz", "lizzie", "beth", "betty", "eliza", "libby"),
    "frederick": ("fred", "freddie"),
    "gabriel": ("gabe",),
    "gerald": ("gerry",),
    "gregory": ("greg",),
    "henry": ("harry", "hal", "hank"),
    "jacob": ("jake",),
    "james": ("jim", "jimmy", "jamie"),
    "jennifer": ("jen", "jenny"),
    "jessica": ("jess", "jessie"),
    "jonathan": ("jon", "jonny"),
    "joseph": ("joe", "joey"),
    "joshua": ("josh",),
    "judith": ("judy",),
    "katherine": ("kate", "katie", "kathy", "kat", "kitty"),
    "kathleen": ("kath",),
    "kenneth": ("ken", "kenny"),
    "lawrence": ("larry", "laurie"),
    "leonard": ("len", "lenny", "leo"),
    "louise": ("lou",),
    "margaret": ("maggie", "meg", "peggy", "marge"),
    "matthew": ("matt",),
    "michael": ("mike", "mick", "mickey"),
    "nicholas": ("nick", "nicky"),
    "nicola": ("nicky", "nic"),
    "patricia": ("pat", "patty", "trish"),
    "patrick": ("paddy", "pat"),
    "peter": ("pete",),
    "philip": ("phil", "pip"),
    "rebecca": ("becky", "becca", "bex"),
    "richard": ("rich", "rick", "ricky", "dick"),
    "robert": ("rob", "bob", "bobby", "robbie", "bert"),
    "ronald": ("ron", "ronnie"),
    "samantha": ("sam", "sammy"),
    "samuel": ("sam", "sammy"),
    "sarah": ("sally", "sadie"),
    "stephen": ("steve", "stevie"),
    "steven": ("steve", "stevie"),
    "susan": ("sue", "susie", "suzy"),
    "theodore": ("theo", "ted", "teddy"),
    "thomas": ("tom", "tommy"),
    "timothy": ("tim", "timmy"),
    "victoria": ("vicky", "tori", "vic"),
    "william": ("will", "bill", "billy", "liam", "willy"),
    "zachary": ("zach", "zack"),
}

# Formal names spelled two ways that share their nicknames.
_SPELLINGS = {"steven": "stephen", "catherine": "katherine", "philip": "phillip"}

NICKNAME_TO_FORMAL: dict[str, str] = dict(_SPELLINGS)
for _formal, _nicks in _FORMAL_TO_NICKNAMES.items():
    for _nick in _nicks:
        NICKNAME_TO_FORMAL.setdefault(_nick, _SPELLINGS.get(_formal, _formal))
del _formal, _nicks, _nick
