"""Private: a client-like CRM extract with known duplicates and known defects, for tests and benchmarks.

It is deliberately unlike the demo world (:mod:`crmkit.synth`), whose duplicates keep the
birth date, the phone digits and the address up to an abbreviation. Here records come as
raw text, the way a client's CSV export does, and a duplicate record of a person carries
one to three of these variations:

- ``transposition`` — two neighbouring letters of the first or last name swapped;
- ``nickname`` — a formal first name replaced by a nickname (Robert -> Bob); 13 of the
  71 nicknames used here do not lead back to their formal name through crmkit's matching
  list (Margaret -> Peggy does; Mary -> Polly, Samuel -> Sam and Harold -> Harry do not),
  as with a client's real names;
- ``swapped_names`` — first and last name entered the other way round;
- ``missing`` — e-mail, phone, birth date or the address left blank;
- ``moved`` — a new street, postcode and city, and half the time a new phone number;
- ``new_email`` — another address (a new provider or a work address);
- ``dob_swap`` — birth day and month swapped (American order);
- ``shouting`` — names in capitals with stray blanks.

Phone numbers come in many formats for everyone, and some people share a household
(same surname, street and postcode, different first name, birth date, e-mail and phone):
true non-matches that look alike. The other tables carry defects a loader must set aside
or a quality report must find: orders for customers that do not exist, amounts that are
not numbers, dates in day/month/year order, a repeated customer id, consents for a
``fax`` channel and consents of one customer and channel that disagree.

The module is private (tests, benchmarks and the data quality report's checks use it),
and lives in the package rather than under ``tests/`` so that ``benchmarks/`` can import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__: list[str] = []  # private module

# the generator's own nickname list; entries marked "unknown" do not map back through crmkit's
# matching list (nor do Chris -> Christopher and Sam -> Samuel, which map to other formal names)
_NICKNAMES = {
    "Robert": ["Bob", "Rob", "Bobby"],
    "William": ["Bill", "Will", "Billy"],
    "Elizabeth": ["Liz", "Beth", "Betty", "Bess"],  # Bess unknown
    "Margaret": ["Peggy", "Maggie", "Meg"],
    "Katherine": ["Kate", "Katie", "Kay"],  # Kay unknown
    "James": ["Jim", "Jimmy", "Jamie"],
    "Richard": ["Rick", "Dick", "Rich"],
    "Thomas": ["Tom", "Tommy"],
    "Michael": ["Mike", "Mick"],
    "Jennifer": ["Jen", "Jenny"],
    "Christopher": ["Chris", "Kit"],
    "Alexander": ["Alex", "Sandy"],
    "Patricia": ["Pat", "Trish", "Patsy"],  # Patsy unknown
    "Edward": ["Ed", "Ted", "Eddie"],
    "Mary": ["Polly", "Molly", "Mae"],  # all unknown
    "Anthony": ["Tony"],
    "Daniel": ["Dan", "Danny"],
    "Susan": ["Sue", "Susie"],
    "Rebecca": ["Becky", "Becca"],
    "Jonathan": ["Jon", "Jonny"],
    "Nicholas": ["Nick", "Nicky"],
    "Joseph": ["Joe", "Joey"],
    "Samuel": ["Sam", "Sammy"],
    "Victoria": ["Vicky", "Tori"],
    "Frederick": ["Fred", "Freddie"],
    "Henry": ["Harry", "Hal"],
    "Deborah": ["Debbie", "Deb"],
    "Dorothy": ["Dot", "Dolly"],
    "Lawrence": ["Larry"],
    "Penelope": ["Penny"],  # unknown
    "Harold": ["Harry", "Hal"],  # unknown as a formal name
    "Agnes": ["Nessa"],  # unknown
}

_PROVIDERS = ["gmail.com", "hotmail.co.uk", "outlook.com", "yahoo.co.uk", "btinternet.com", "icloud.com", "live.co.uk"]
_WORK = ["acme.co.uk", "northwind.com", "globex.co.uk", "initech.com"]
VARIATIONS = ("transposition", "nickname", "swapped_names", "missing", "moved", "new_email", "dob_swap", "shouting")


@dataclass(frozen=True)
class MessyExtract:
    """A client-like extract: raw ``tables`` (text, as exported), the ``truth`` of its duplicates.

    ``truth`` has one row per duplicate record: ``customer_id``, ``duplicate_of`` (the
    person's first record) and ``variations`` (comma-joined). ``households`` lists pairs
    of different people who share a surname and an address (true non-matches).
    ``defects`` lists the rows planted to be set aside by the loader (``table``,
    ``key``, ``defect``).
    """

    tables: dict
    truth: pd.DataFrame
    households: pd.DataFrame
    defects: pd.DataFrame
    seed: int

    def write_csv(self, folder) -> Path:
        """Write one CSV per table into ``folder`` (created), as a client would send them."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, df in self.tables.items():
            df.to_csv(folder / f"{name}.csv", index=False)
        return folder


def _pools(rng: np.random.Generator, n_people: int) -> dict:
    from faker import Faker

    fake = Faker("en_GB")
    fake.seed_instance(int(rng.integers(2**31)))
    size = max(400, min(6000, n_people // 20))
    first = sorted({fake.first_name() for _ in range(size)})
    last = sorted({fake.last_name() for _ in range(size * 2)})
    streets = sorted({fake.street_name() for _ in range(size)})
    postcodes = sorted({fake.postcode() for _ in range(size * 3)})
    cities = sorted({fake.city() for _ in range(size // 2)})
    return {k: np.array(v, dtype=object) for k, v in
            {"first": first, "last": last, "street": streets, "postcode": postcodes, "city": cities}.items()}


def _mobile(rng: np.random.Generator, n: int) -> np.ndarray:
    """UK mobile-like numbers in the 07400–07999 ranges; about one in eight falls in a range that is
    not assigned (as in real extracts), which the phone-number quality rule reports."""
    prefix = rng.integers(7400, 8000, n)
    rest = rng.integers(0, 10**6, n)
    return np.array([f"0{p}{r:06d}" for p, r in zip(prefix.tolist(), rest.tolist())], dtype=object)


def _format_phone(digits: str, style: int) -> str:
    """One UK number (``07xxxxxxxxx``) in one of the formats clients' systems hold."""
    d = digits
    return [
        f"{d[:5]} {d[5:]}",
        d,
        f"+44 {d[1:5]} {d[5:]}",
        f"+44 (0){d[1:5]} {d[5:8]} {d[8:]}",
        f"0044{d[1:]}",
        f"({d[:5]}) {d[5:8]}-{d[8:]}",
        f"+44{d[1:]}",
    ][style % 7]


def _email(first: str, last: str, rng: np.random.Generator, work: bool = False) -> str:
    f, l_ = first.lower().replace(" ", ""), last.lower().replace(" ", "").replace("'", "")
    style = int(rng.integers(0, 4))
    local = [f"{f}.{l_}", f"{f[0]}{l_}", f"{f}{l_}{int(rng.integers(1, 99))}", f"{l_}.{f}"][style]
    domain = _WORK[int(rng.integers(0, len(_WORK)))] if work else _PROVIDERS[int(rng.integers(0, len(_PROVIDERS)))]
    return f"{local}@{domain}"


def _transpose(word: str, pos: float) -> str:
    if len(word) < 4:
        return word + word[-1]
    i = 1 + int(pos * (len(word) - 2))
    i = min(i, len(word) - 2)
    if word[i] == word[i + 1]:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def messy_extract(
    n_people: int = 2_000,
    *,
    duplicate_share: float = 0.12,
    household_share: float = 0.04,
    random_state: int = 0,
    start: str = "2023-01-01",
    end: str = "2025-12-31",
) -> MessyExtract:
    """Build a client-like extract of ``n_people`` people plus their duplicate records.

    ``duplicate_share`` of the people have a second record (a tenth of those a third);
    ``household_share`` of the people share surname and address with another person.
    Everything is drawn from ``numpy.random.default_rng(random_state)``.
    """
    rng = np.random.default_rng(random_state)
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    span = (t1 - t0).days
    pools = _pools(rng, n_people)
    n = n_people

    formal = np.array(list(_NICKNAMES), dtype=object)
    use_formal = rng.random(n) < 0.3
    first = np.where(use_formal, formal[rng.integers(0, len(formal), n)], pools["first"][rng.integers(0, len(pools["first"]), n)])
    last = pools["last"][rng.integers(0, len(pools["last"]), n)].copy()
    birth = (pd.Timestamp("1940-01-01") + pd.to_timedelta(rng.integers(0, 365 * 62, n), unit="D")).to_numpy()
    street = np.array([f"{h} {s}" for h, s in zip(rng.integers(1, 250, n).tolist(), pools["street"][rng.integers(0, len(pools["street"]), n)])], dtype=object)
    postcode = pools["postcode"][rng.integers(0, len(pools["postcode"]), n)].copy()
    city = pools["city"][rng.integers(0, len(pools["city"]), n)].copy()
    phone = _mobile(rng, n)
    email = np.array([_email(f, l_, rng) for f, l_ in zip(first, last)], dtype=object)
    # unique e-mails and phones across people (a shared one is a planted duplicate only)
    email = pd.Series(email).where(~pd.Series(email).duplicated(), pd.Series(email) + "").to_numpy(dtype=object)
    dup_e = pd.Series(email).duplicated().to_numpy()
    email[dup_e] = [e.replace("@", f"{i}@") for i, e in zip(np.flatnonzero(dup_e).tolist(), email[dup_e])]
    dup_p = pd.Series(phone).duplicated().to_numpy()
    while dup_p.any():
        phone[dup_p] = _mobile(rng, int(dup_p.sum()))
        dup_p = pd.Series(phone).duplicated().to_numpy()

    # households: person j moves in with person i (surname and address shared)
    n_house = int(round(household_share * n))
    hh = rng.choice(n, size=2 * n_house, replace=False).reshape(-1, 2)
    for i, j in hh.tolist():
        last[j], street[j], postcode[j], city[j] = last[i], street[i], postcode[i], city[i]
        email[j] = _email(str(first[j]), str(last[j]), rng).replace("@", f"{j}@")

    created = t0 + pd.to_timedelta(rng.integers(0, span - 200, n), unit="D") + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s")
    people = pd.DataFrame(
        {"first_name": first, "last_name": last, "email": email, "phone": phone, "street": street,
         "postcode": postcode, "city": city, "birth_date": birth, "created_at": created.to_numpy()}
    )

    # duplicate records
    n_dup_people = int(round(duplicate_share * n))
    dup_people = rng.choice(n, size=n_dup_people, replace=False)
    third = dup_people[rng.random(n_dup_people) < 0.1]
    sources = np.concatenate([dup_people, third])
    dup_rows = people.iloc[sources].to_dict("records")
    labels = []
    probs = np.array([0.25, 0.15, 0.07, 0.25, 0.2, 0.2, 0.05, 0.1])
    for k, row in enumerate(dup_rows):
        n_var = int(rng.choice([1, 2, 3], p=[0.45, 0.4, 0.15]))
        chosen = set(rng.choice(len(VARIATIONS), size=n_var, replace=False, p=probs / probs.sum()).tolist())
        done = []
        for v in sorted(chosen):
            name = VARIATIONS[v]
            if name == "transposition":
                key = "first_name" if rng.random() < 0.5 else "last_name"
                row[key] = _transpose(str(row[key]), float(rng.random()))
            elif name == "nickname":
                if row["first_name"] not in _NICKNAMES:
                    continue
                options = _NICKNAMES[row["first_name"]]
                row["first_name"] = options[int(rng.integers(0, len(options)))]
            elif name == "swapped_names":
                row["first_name"], row["last_name"] = row["last_name"], row["first_name"]
            elif name == "missing":
                for col in rng.choice(["email", "phone", "birth_date", "address"], size=int(rng.integers(1, 3)), replace=False):
                    if col == "address":
                        row["street"] = row["postcode"] = row["city"] = None
                    else:
                        row[col] = None
            elif name == "moved":
                row["street"] = f"{int(rng.integers(1, 250))} {pools['street'][int(rng.integers(0, len(pools['street'])))]}"
                row["postcode"] = pools["postcode"][int(rng.integers(0, len(pools["postcode"])))]
                row["city"] = pools["city"][int(rng.integers(0, len(pools["city"])))]
                if rng.random() < 0.5:
                    row["phone"] = _mobile(rng, 1)[0]
            elif name == "new_email":
                row["email"] = _email(str(people.at[sources[k], "first_name"]), str(people.at[sources[k], "last_name"]), rng,
                                      work=rng.random() < 0.5).replace("@", f"{k}x@")
            elif name == "dob_swap":
                b = None if pd.isna(row["birth_date"]) else pd.Timestamp(row["birth_date"])
                if b is None or b.day > 12 or b.day == b.month:
                    continue
                row["birth_date"] = pd.Timestamp(year=b.year, month=b.day, day=b.month).to_datetime64()
            elif name == "shouting":
                row["first_name"] = f" {str(row['first_name']).upper()}"
                row["last_name"] = f"{str(row['last_name']).upper()}  "
            done.append(name)
        if not done:  # nothing applied (no nickname, no swappable date): a new e-mail then
            row["email"] = _email(str(row["first_name"]), str(row["last_name"]), rng, work=True).replace("@", f"{k}w@")
            done.append("new_email")
        labels.append(",".join(done))
    dups = pd.DataFrame(dup_rows, columns=people.columns)
    dup_created = people["created_at"].to_numpy()[sources] + pd.to_timedelta(rng.integers(30, 200, len(sources)), unit="D").to_numpy()
    dups["created_at"] = dup_created

    records = pd.concat([people, dups], ignore_index=True)
    person = np.concatenate([np.arange(n), sources])
    order = np.argsort(records["created_at"].to_numpy(), kind="stable")
    ids = np.empty(len(records), dtype=object)
    ids[order] = [f"K{i + 100001}" for i in range(len(records))]
    records.insert(0, "customer_id", ids)
    # the person's first record: the earliest of its records
    rec = pd.DataFrame({"customer_id": ids, "person": person, "created_at": records["created_at"]})
    first_rec = rec.sort_values("created_at").drop_duplicates("person").set_index("person")["customer_id"]
    is_dup = np.arange(len(records)) >= n
    truth = pd.DataFrame(
        {
            "customer_id": ids[is_dup],
            "duplicate_of": first_rec.reindex(person[is_dup]).to_numpy(),
            "variations": labels,
        }
    )
    # a duplicate created before its original would be its own "first"; re-point to the other record
    same = truth["customer_id"] == truth["duplicate_of"]
    if same.any():
        other = rec[~rec["customer_id"].isin(truth.loc[same, "customer_id"])].sort_values("created_at")
        other = other.drop_duplicates("person").set_index("person")["customer_id"]
        truth.loc[same, "duplicate_of"] = other.reindex(person[is_dup][same.to_numpy()]).to_numpy()
    households = pd.DataFrame({"customer_id_l": ids[hh[:, 0]], "customer_id_r": ids[hh[:, 1]]})

    # raw text, the way an export looks
    styles = rng.integers(0, 7, len(records))
    raw = pd.DataFrame(
        {
            "customer_id": records["customer_id"],
            "first_name": records["first_name"],
            "last_name": records["last_name"],
            "email": [None if pd.isna(e) else (e.upper() if s == 3 else (f" {e} " if s == 5 else e)) for e, s in zip(records["email"], styles)],
            "phone": [None if pd.isna(p) else _format_phone(str(p), int(s)) for p, s in zip(records["phone"], styles)],
            "street": records["street"],
            "postcode": [None if pd.isna(p) else (p.replace(" ", "").lower() if s == 2 else p) for p, s in zip(records["postcode"], styles)],
            "city": records["city"],
            "country": "GB",
            "birth_date": pd.to_datetime(records["birth_date"]).dt.strftime("%Y-%m-%d").astype(object).where(records["birth_date"].notna(), None),
            "created_at": pd.to_datetime(records["created_at"]).dt.strftime("%Y-%m-%d %H:%M:%S"),
            "region": rng.choice(["North", "South", "East", "West", "Central"], len(records)),
            "acquisition_channel": rng.choice(["web", "store", "phone", "partner"], len(records)),
        }
    )
    raw = raw.iloc[np.argsort(raw["customer_id"].to_numpy())].reset_index(drop=True)

    defects = []
    # customers: a repeated id and an unreadable sign-up date
    rep = raw.iloc[[5]].copy()
    rep["email"] = "someone.else@example.com"
    raw = pd.concat([raw, rep], ignore_index=True)
    defects.append(("customers", rep["customer_id"].iloc[0], "repeated customer_id"))
    raw.loc[10, "created_at"] = "yesterday"
    defects.append(("customers", raw.loc[10, "customer_id"], "unreadable created_at"))
    bad_ids = {raw.loc[10, "customer_id"]}

    # transactions
    n_rec = len(records)
    per = rng.poisson(3.0, n_rec)
    owner = np.repeat(np.arange(n_rec), per)
    when = records["created_at"].to_numpy()[owner] + pd.to_timedelta(rng.integers(1, 400, len(owner)), unit="D").to_numpy()
    when = np.minimum(when, np.datetime64(t1 + pd.Timedelta(hours=23)))
    tx = pd.DataFrame(
        {
            "order_id": [f"S{i + 1:07d}" for i in range(len(owner))],
            "customer_id": records["customer_id"].to_numpy()[owner],
            "ordered_at": pd.Series(when).dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy(),
            "amount": np.round(rng.gamma(2.0, 25.0, len(owner)), 2).astype(str),
            "category": rng.choice(["clothing", "home", "garden", "toys", None], len(owner)),
            "sales_channel": rng.choice(["online", "store"], len(owner)),
        }
    )
    tx = tx[~tx["customer_id"].isin(bad_ids)].reset_index(drop=True)
    k = max(3, len(tx) // 400)
    pick = rng.choice(len(tx), size=3 * k, replace=False)
    tx.loc[pick[:k], "customer_id"] = [f"K9{i:05d}" for i in range(k)]
    defects += [("transactions", o, "customer does not exist") for o in tx.loc[pick[:k], "order_id"]]
    tx.loc[pick[k : 2 * k], "amount"] = "N/A"
    defects += [("transactions", o, "amount not a number") for o in tx.loc[pick[k : 2 * k], "order_id"]]
    tx.loc[pick[2 * k :], "ordered_at"] = pd.to_datetime(tx.loc[pick[2 * k :], "ordered_at"]).dt.strftime("%d/%m/%Y").to_numpy()
    defects += [("transactions", o, "date in day/month/year order") for o in tx.loc[pick[2 * k :], "order_id"]]

    # consents: e-mail, sms, post per record, granted as Y/N text
    channels = np.array(["email", "sms", "post"], dtype=object)
    cid = np.repeat(records["customer_id"].to_numpy(), len(channels))
    ch = np.tile(channels, n_rec)
    granted = rng.random(len(cid)) < np.tile([0.7, 0.5, 0.6], n_rec)
    cons = pd.DataFrame(
        {
            "customer_id": cid,
            "channel": ch,
            "granted": np.where(granted, "Y", "N"),
            "updated_at": pd.Series(np.repeat(records["created_at"].to_numpy(), len(channels))).dt.strftime("%Y-%m-%d").to_numpy(),
        }
    )
    cons = cons[~cons["customer_id"].isin(bad_ids)].reset_index(drop=True)
    m = max(2, n_rec // 200)
    dis = cons.sample(m, random_state=int(rng.integers(2**31))).copy()
    dis["granted"] = np.where(dis["granted"] == "Y", "N", "Y")
    cons = pd.concat([cons, dis], ignore_index=True)  # disagreeing rows: found by the quality rules
    fax = cons.sample(m, random_state=int(rng.integers(2**31))).copy()
    fax["channel"] = "fax"
    cons = pd.concat([cons, fax], ignore_index=True)
    defects += [("consents", c, "channel 'fax' not allowed") for c in fax["customer_id"]]

    return MessyExtract(
        tables={"customers": raw, "transactions": tx, "consents": cons},
        truth=truth,
        households=households,
        defects=pd.DataFrame(defects, columns=["table", "key", "defect"]),
        seed=int(random_state),
    )
