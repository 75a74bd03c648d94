"""Importing a CSV file: customers (with an opening balance) or points in bulk.

A file is accepted (read, its columns matched), previewed with the mapping the
merchant may change, then run by a job on the bulk queue. Each row is all or
nothing (a savepoint) and is validated by the core's own services (`create_member`,
`update_member`, `normalize_email`, the ledger and the till's `give_points` and
`record_purchase`), so a file obeys the panel's and the API's rules. Each row's
result is written beside what it did, in the same transaction, and the job commits
every `BATCH` rows: killed halfway, it resumes after the last committed row.

Points carry a ledger key made of the file's digest and the row number, so the
same file uploaded twice gives nothing twice; an opening balance is given once
per member whatever file carries it.

On PostgreSQL a batch of rows takes the set-based path: each row is validated in
Python as it streams by (the same checks), then the batch's new customers are
enrolled (`enrol_in_bulk`) and their opening balances or the file's points credited
(`credit_in_bulk`) in a few statements, with the batch's results. What that path
does not do row by row: a row matching an existing member (updated, or refused),
a purchase amount (the till's path: the equivalence and plugins' rules, which are
Python) and any batch a set-based statement refuses (a balance over the maximum, a
concurrent enrolment of the same person) go through the per-row path, so every row
still obeys the same rules.

Both paths leave a new customer the same: the program's welcome points, then the
opening balance. Neither announces `member_created` per customer; each batch
announces `members_enrolled` once with the customers it created, whose listeners
queue their e-mails (the welcome) a chunk of members per job. Invitations go only
when the merchant ticks "invite". Bulk credits of a points file announce
`entries_recorded` once a batch where the per-row path announces `entry_recorded` per
row: the same e-mails, pushes, webhook events and referral payouts, queued in chunks.

On PostgreSQL a new customer's balance is set in the membership's INSERT (welcome
plus opening points) and its entries written after (`enrol_in_bulk`'s opening
points): no UPDATE per member; a batch commits without waiting for its WAL (the job
is resumable: a batch a server crash loses is redone). A customers file's batches are
written by `WRITERS` threads at once, each with its own connection, while this thread
reads and checks the next: PostgreSQL works on both cores. Batches may then commit out
of order; a resumed job does the rows that have no report row.
"""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import queue
import re
import threading
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from core.sdk import (
    MAX_POINTS_PER_OPERATION,
    Actor,
    BulkCredit,
    CsvTable,
    Entry,
    InvalidInput,
    Membership,
    NewMember,
    NotFound,
    PremiaError,
    Purchase,
    Role,
    StaffUser,
    Tenant,
    announce,
    create_member,
    credit_in_bulk,
    earn,
    enrol_in_bulk,
    get_member,
    get_program,
    give_points,
    lock_member,
    match_columns,
    member_by_email,
    members_by_documents,
    members_by_emails,
    normalize_email,
    open_csv,
    parse_day,
    parse_number,
    record_purchase,
    system_key,
    tenant_session,
    update_member,
    utcnow,
    write_rows,
)
from plugins.csv_import.columns import FIELDS, LABELS, usable
from plugins.csv_import.models import (
    CREATED,
    CUSTOMERS,
    DONE,
    GRANTED,
    POINTS,
    PREVIEW,
    QUEUED,
    REFUSED,
    RUNNING,
    SKIPPED,
    UPDATED,
    Import,
    ImportRow,
)

BATCH = 200  # rows per transaction: progress moves, a kill loses at most this many
BULK_BATCH = 5000  # the same on the set-based path (PostgreSQL): a few statements a batch
PREVIEW_ROWS = 10
WRITERS = 2  # customers on PostgreSQL: batches written at once, each on its own connection
OPENING = "opening"  # the entry kind of an opening balance ("Saldo inicial")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
LENGTHS = {"first_name": 120, "last_name": 120, "document_id": 40, "phone": 40}


# --- the file --------------------------------------------------------------


def upload_folder(tenant_id: int) -> Path:
    return Path(current_app.config["PREMIA_UPLOAD_FOLDER"]) / str(int(tenant_id)) / "csv_import"


def file_path(imported: Import) -> Path:
    return upload_folder(imported.tenant_id) / imported.stored


def digest_of(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 16), b""):
            sha.update(block)
    return sha.hexdigest()


def accept(
    session: Session,
    tenant: Tenant,
    *,
    kind: str,
    path: Path,
    filename: str,
    staff_id: int | None = None,
    report_to: str | None = None,
) -> Import:
    """An import of the file saved at `path` (in `upload_folder`), its columns matched by
    their headers. Refuses at once (InvalidInput on "file") a file that cannot be read,
    is empty or has no column the import can use; nothing is queued."""
    if kind not in FIELDS:
        raise InvalidInput(kind=_l("Choose what the file holds."))
    table = open_csv(path)
    mapping = match_columns(table.header, FIELDS[kind])
    if not usable(kind, mapping):
        raise InvalidInput(file=no_usable_column(kind))
    imported = Import(
        kind=kind,
        filename=(filename or path.name)[:255],
        stored=path.name,
        digest=digest_of(path),
        mapping=mapping,
        staff_id=staff_id,
        report_to=report_to,
        status=PREVIEW,
    )
    session.add(imported)
    session.flush()
    return imported


def no_usable_column(kind: str) -> Any:
    if kind == CUSTOMERS:
        return _l("The file has no column of e-mails (a header such as “email” or “correo”).")
    return _l(
        "The file needs a column naming the customer (code, e-mail or document) and one of "
        "points or purchase amounts."
    )


def table_of(imported: Import) -> CsvTable:
    return open_csv(file_path(imported))


def preview_rows(table: CsvTable, limit: int = PREVIEW_ROWS) -> list[tuple[int, list[str]]]:
    rows = []
    for number, cells in table.rows():
        rows.append((number, cells))
        if len(rows) == limit:
            break
    return rows


def choose_columns(imported: Import, header: list[str], chosen: dict[str, int | None]) -> None:
    """The merchant's mapping from the preview: field → column index (None: not imported)."""
    if imported.status != PREVIEW:
        raise InvalidInput(mapping=_l("This import has started already."))
    mapping = {}
    for field in FIELDS[imported.kind]:
        index = chosen.get(field)
        if index is None:
            continue
        if not isinstance(index, int) or not 0 <= index < len(header):
            raise InvalidInput(**{field: _l("Choose one of the file's columns.")})
        mapping[field] = index
    if not usable(imported.kind, mapping):
        raise InvalidInput(mapping=no_usable_column(imported.kind))
    imported.mapping = mapping


def start(
    session: Session, imported: Import, *, update_existing: bool = False, invite: bool = False
) -> None:
    """Mark the import ready to run with the merchant's options; the caller queues it
    (`jobs.queue_run`, run once the caller commits) or runs it (the command line)."""
    if imported.status != PREVIEW:
        raise InvalidInput(mapping=_l("This import has started already."))
    imported.update_existing = bool(update_existing) and imported.kind == CUSTOMERS
    imported.invite = bool(invite) and imported.kind == CUSTOMERS
    imported.status = QUEUED
    session.flush()


# --- running ---------------------------------------------------------------


class RowError(Exception):
    """A row refused: the field whose cell is wrong and why, in the merchant's language."""

    def __init__(self, field: str | None, message: Any) -> None:
        super().__init__(str(message))
        self.field = field
        self.message = message


@dataclass
class Outcome:
    status: str
    member_id: int | None = None
    field: str | None = None
    message: Any = None


@dataclass
class Checked:
    """A batch validated for the set-based path: its valid rows' values, in order, and
    the outcomes of the rows refused."""

    valid: list[tuple[int, dict[str, Any]]] = dataclasses.field(default_factory=list)
    refused: dict[int, Outcome] = dataclasses.field(default_factory=dict)


def run(
    session: Session,
    tenant: Tenant,
    imported: Import,
    *,
    commit_every: int | None = None,
    after: Callable[[Session, Import], None] | None = None,
) -> None:
    """Do the import's rows not done yet, committing every `commit_every` rows with the
    progress; the report's counts are complete once it returns (status DONE). `after`
    runs in the last transaction, once the rows are done (the report and invitations
    are queued there, so they leave only if the import's end commits)."""
    if imported.status not in (QUEUED, RUNNING):
        return
    table = table_of(imported)
    if imported.status == QUEUED:
        imported.total = table.count()
        imported.status = RUNNING
        session.commit()
    # The rows done before a kill: those with a report row (batches written at once may
    # have committed out of order, so not just the rows up to the last one).
    done = set(session.scalars(select(ImportRow.row).where(ImportRow.import_id == imported.id)))
    actor = Actor.staff(imported.staff_id) if imported.staff_id else Actor.system()
    bulk = set_based(session)
    size = commit_every or (BULK_BATCH if bulk else BATCH)
    with force_locale(tenant.language):
        rows = _row_kind(imported)(session, tenant, imported, table.header, actor)
        batches = _batches(table, rows, done, size)
        if bulk and WRITERS > 1 and imported.kind == CUSTOMERS:
            session.commit()  # nothing held while the writers' transactions run
            _write_at_once(session, tenant, imported, rows, batches, actor)
            session.expire(imported)  # its counts, added up by the writers
        elif bulk:
            for batch in batches:
                _do_batch(session, imported, rows, rows.check_many(batch), bulk)
        else:
            for batch in batches:
                _do_batch(session, imported, rows, batch, bulk)
        imported.status = DONE
        imported.finished_at = utcnow()
        session.flush()
    if after is not None:
        after(session, imported)
    session.commit()


def _batches(
    table: CsvTable, rows: _Rows, done: set[int], size: int
) -> Iterator[list[tuple[int, list[str]]]]:
    """The file's rows not in `done` (done before a kill), `size` at a time; the rows
    done are remembered (later rows are still checked against them) in the file's
    order: a batch waiting is handed out before a done row after it is remembered."""
    batch: list[tuple[int, list[str]]] = []
    for number, cells in table.rows():
        if number in done:
            if batch:
                yield batch
                batch = []
            rows.remember(number, cells)
            continue
        batch.append((number, cells))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


_END = object()


def _write_at_once(
    session: Session,
    tenant: Tenant,
    imported: Import,
    rows: _Rows,
    batches: Iterator[list[tuple[int, list[str]]]],
    actor: Actor,
) -> None:
    """The set-based path with `WRITERS` batches written at once, each writer a thread
    with its own session (connection, transaction): PostgreSQL writes batches on both
    cores while this thread reads and checks the next (the checks are the only part
    that depends on the rows before: duplicates in the file). Each batch commits on
    its own, whole or not at all, possibly out of order: a kill leaves whole batches
    done, and `run` resumes with the rows that have no report row.

    Customers only: each new member is touched by its own batch alone (points files
    may credit one member from many batches, whose balance updates could deadlock).
    An exception here (a kill) lets the batches handed out finish, then is raised; one
    in a writer stops the others after their batch and is raised here."""
    waiting: queue.Queue[Any] = queue.Queue(maxsize=1)
    failed: list[BaseException] = []
    factory = current_app.extensions["premia"].sessions
    context = contextvars.copy_context()  # the app's and the forced locale, in each writer

    def write() -> None:
        try:
            with tenant_session(factory, tenant.id) as own:
                mine = _row_kind(imported)(
                    own,
                    own.get(Tenant, tenant.id),
                    own.get(Import, imported.id),
                    rows.header,
                    actor,
                )
                while True:
                    checked = waiting.get()
                    if checked is _END or failed:
                        return
                    _do_batch(own, mine.imported, mine, checked, True, counts_by_sql=True)
        except BaseException as error:  # raised in the caller, after the others end
            failed.append(error)

    writers = [
        threading.Thread(target=context.copy().run, args=(write,), name=f"csv-import-writer-{n}")
        for n in range(WRITERS)
    ]
    for writer in writers:
        writer.start()
    try:
        for batch in batches:
            checked = rows.check_many(batch)
            while not failed and any(writer.is_alive() for writer in writers):
                try:
                    waiting.put(checked, timeout=0.05)
                    break
                except queue.Full:
                    continue
            else:
                break  # a writer failed: no batch more
    finally:
        # One end for each writer, after the batches handed out (a writer gone early,
        # failed, takes none: stop when none is left to take them).
        ends = 0
        while ends < len(writers) and any(writer.is_alive() for writer in writers):
            try:
                waiting.put(_END, timeout=0.05)
                ends += 1
            except queue.Full:
                continue
        for writer in writers:
            writer.join()
    if failed:
        raise failed[0]


def set_based(session: Session) -> bool:
    """Whether batches take the set-based path: on PostgreSQL (COPY and its upserts);
    the embedded default (SQLite) does each row on its own."""
    return session.get_bind().dialect.name == "postgresql"


def _do_batch(
    session: Session,
    imported: Import,
    rows: _Rows,
    batch: list[tuple[int, list[str]]] | Checked,
    bulk: bool,
    *,
    counts_by_sql: bool = False,
) -> None:
    """Do a batch of rows (on the set-based path, checked by `check_many` already) and
    write their results, then commit: all of it or none. `counts_by_sql`: the import's
    counts added in the database (batches committed at once by several sessions), last
    before the commit (the import's row is locked the shortest)."""
    if bulk:
        assert isinstance(batch, Checked)
        # The batch's commit does not wait for its WAL to reach the disk: a server crash
        # in the next moments may lose the batch whole (never part of it), and the job
        # retried resumes after the last batch the database kept, redoing the lost one.
        # Safe for this resumable bulk job only, not for a request a customer waits on.
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET LOCAL synchronous_commit = off"))
        outcomes = rows.write_many(batch)
    else:
        outcomes = [(number, rows.do(number, cells)) for number, cells in batch]
    # The results in one go (COPY on PostgreSQL): as ORM objects they were half the
    # time of a 20,000-row import in a profile (attribute events, the unit of work).
    write_rows(
        session,
        ImportRow,
        (_result(imported, rows.header, number, outcome) for number, outcome in outcomes),
    )
    added = Counter(outcome.status for _number, outcome in outcomes)
    created = [o.member_id for _n, o in outcomes if o.status == CREATED and o.member_id]
    if created:  # once for the batch, whichever path each row took (after the commit)
        announce(session, "members_enrolled", member_ids=created)
    if counts_by_sql:
        session.execute(
            update(Import)
            .where(Import.id == imported.id)
            .values(
                done=Import.done + len(outcomes),
                **{s: getattr(Import, s) + n for s, n in added.items()},
            )
            .execution_options(synchronize_session=False)
        )
    else:
        for status, n in added.items():
            setattr(imported, status, getattr(imported, status) + n)
        imported.done += len(outcomes)
    session.commit()


def _result(imported: Import, header: list[str], number: int, outcome: Outcome) -> dict[str, Any]:
    column = None
    if outcome.field is not None:
        index = imported.mapping.get(outcome.field)
        column = header[index] if index is not None else str(LABELS.get(outcome.field, ""))
    return {
        "import_id": imported.id,
        "row": number,
        "status": outcome.status,
        "column": column[:255] if column else None,
        "message": str(outcome.message) if outcome.message is not None else None,
        "member_id": outcome.member_id,
    }


def _row_kind(imported: Import) -> type[_Rows]:
    return CustomerRows if imported.kind == CUSTOMERS else PointsRows


def _refusal(error: PremiaError) -> tuple[str | None, Any]:
    """The field and the message of a service's refusal: its own message when it has a
    specific one (a conflict), else the field's."""
    field = next(iter(error.fields), None)
    if field is not None and error.message is type(error).message:
        return field, error.fields[field]
    return field, error.message


class _Rows(ABC):
    def __init__(
        self, session: Session, tenant: Tenant, imported: Import, header: list[str], actor: Actor
    ) -> None:
        self.session = session
        self.tenant = tenant
        self.imported = imported
        self.header = header
        self.actor = actor
        self.locale = number_locale(tenant)

    def cell(self, cells: list[str], field: str) -> str:
        index = self.imported.mapping.get(field)
        if index is None or index >= len(cells):
            return ""
        return cells[index].strip()

    def remember(self, number: int, cells: list[str]) -> None:
        """A row done before a resumption: keep what later rows are checked against
        (nothing by default: points rows are not checked against each other)."""
        return None

    def do(self, number: int, cells: list[str]) -> Outcome:
        try:
            values = self.values(number, cells)
        except RowError as error:
            return Outcome(REFUSED, field=error.field, message=error.message)
        return self.settle(number, values)

    def settle(self, number: int, values: dict[str, Any]) -> Outcome:
        """Apply one validated row on its own (a savepoint): all of it or nothing."""
        try:
            with self.session.begin_nested():
                return self.apply(number, values)
        except RowError as error:
            return Outcome(REFUSED, field=error.field, message=error.message)
        except PremiaError as error:
            field, message = _refusal(error)
            return Outcome(REFUSED, field=field, message=message)

    def check_many(self, batch: list[tuple[int, list[str]]]) -> Checked:
        """The set-based path's first half: each row of the batch validated, in order
        (no database: it may run in a thread of its own, ahead of `write_many`)."""
        checked = Checked()
        for number, cells in batch:
            try:
                checked.valid.append((number, self.values(number, cells, resolve=False)))
            except RowError as error:
                checked.refused[number] = Outcome(REFUSED, field=error.field, message=error.message)
        return checked

    def do_many(self, batch: list[tuple[int, list[str]]]) -> list[tuple[int, Outcome]]:
        """The set-based path over a batch: each row validated, then what can be done
        set-based is (`bulk`), the rest row by row; outcomes in the rows' order."""
        return self.write_many(self.check_many(batch))

    def write_many(self, checked: Checked) -> list[tuple[int, Outcome]]:
        """The set-based path's second half over a checked batch: what can be done
        set-based is (`bulk`), the rest row by row; outcomes in the rows' order."""
        outcomes: dict[int, Outcome] = dict(checked.refused)
        valid = checked.valid
        if valid:
            try:
                with self.session.begin_nested():
                    outcomes.update(self.bulk(valid))
            except PremiaError:
                # A batch refused as a whole (a balance over the maximum…): row by row,
                # each row then refused or done on its own.
                for number, values in valid:
                    outcomes[number] = self.settle(number, self.resolved(values))
        return sorted(outcomes.items())

    @abstractmethod
    def bulk(self, valid: list[tuple[int, dict[str, Any]]]) -> dict[int, Outcome]:
        """The set-based path: each valid row's outcome, by row number."""

    def resolved(self, values: dict[str, Any]) -> dict[str, Any]:
        """Values validated with `resolve=False`, completed for the per-row path."""
        return values

    @abstractmethod
    def values(self, number: int, cells: list[str], *, resolve: bool = True) -> dict[str, Any]:
        """The row's values, validated (RowError otherwise); `resolve=False` leaves
        out what the set-based path finds for the whole batch at once."""

    @abstractmethod
    def apply(self, number: int, values: dict[str, Any]) -> Outcome:
        """Do one validated row (inside its savepoint); RowError or a PremiaError refuses it."""

    def text(self, cells: list[str], field: str) -> str:
        value = self.cell(cells, field)
        if CONTROL.search(value):
            raise RowError(field, _l("Text cannot contain control characters."))
        limit = LENGTHS.get(field)
        if limit and len(value) > limit:
            raise RowError(field, _l("At most %(n)d characters.", n=limit))
        return value

    def whole_points(self, cells: list[str], *, zero: bool) -> int | None:
        raw = self.cell(cells, "points")
        if not raw:
            return None
        try:
            number = parse_number(raw, self.locale)
        except ValueError:
            number = None
        smallest = 0 if zero else 1
        if number is None or number != number.to_integral_value() or number < smallest:
            if zero:
                raise RowError("points", _l("The points must be a whole number, zero or more."))
            raise RowError("points", _l("The points must be a whole number greater than zero."))
        if number > MAX_POINTS_PER_OPERATION:
            raise RowError("points", _l("This number of points is too large."))
        return int(number)


def number_locale(tenant: Tenant) -> str:
    """The merchant's formats (es_CO: "1.250" is 1250): its language with its country."""
    from babel import Locale, UnknownLocaleError

    candidate = f"{tenant.language.split('_')[0]}_{(tenant.country or '').upper()}"
    try:
        Locale.parse(candidate)
        return candidate
    except (UnknownLocaleError, ValueError):
        return tenant.language


class CustomerRows(_Rows):
    """Each row a customer: created, or updated where the merchant chose to, with an
    opening balance of its own kind."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.emails: dict[str, int] = {}  # e-mail → the first row that had it
        self.documents: dict[str, int] = {}

    def remember(self, number: int, cells: list[str]) -> None:
        with suppress(InvalidInput):
            self.emails.setdefault(normalize_email(self.cell(cells, "email")), number)
        document = self.cell(cells, "document_id")
        if document:
            self.documents.setdefault(document, number)

    def values(self, number: int, cells: list[str], *, resolve: bool = True) -> dict[str, Any]:
        try:
            email = normalize_email(self.cell(cells, "email"))
        except InvalidInput as error:
            raise RowError("email", error.fields["email"]) from None
        first = self.emails.setdefault(email, number)
        if first != number:
            raise RowError("email", _l("This e-mail is also on row %(row)d.", row=first))
        values: dict[str, Any] = {"email": email}
        for field in ("first_name", "last_name", "document_id", "phone"):
            values[field] = self.text(cells, field)
        if not values["first_name"]:
            raise RowError("first_name", _l("Enter the customer's name."))
        document = values["document_id"]
        if document:
            first = self.documents.setdefault(document, number)
            if first != number:
                raise RowError(
                    "document_id", _l("This document is also on row %(row)d.", row=first)
                )
        raw_day = self.cell(cells, "birthday")
        values["birthday"] = None
        if raw_day:
            try:
                values["birthday"] = parse_day(raw_day, self.locale)
            except ValueError:
                raise RowError("birthday", _l("Not a date (write it as day/month/year).")) from None
            if values["birthday"] > date.today():
                raise RowError("birthday", _l("The birthday cannot be in the future."))
        values["points"] = self.whole_points(cells, zero=True) or 0
        return values

    def apply(self, number: int, values: dict[str, Any]) -> Outcome:
        session = self.session
        existing = member_by_email(session, values["email"])
        if existing is None and values["document_id"]:
            existing = session.scalar(
                select(Membership).where(Membership.document_id == values["document_id"])
            )
            if existing is not None and not self.imported.update_existing:
                raise RowError("document_id", _l("This document already belongs to a customer."))
        if existing is not None:
            if not self.imported.update_existing:
                raise RowError("email", _l("This e-mail already belongs to a customer."))
            if existing.email != values["email"]:
                raise RowError(
                    "email", _l("The document belongs to a customer with another e-mail.")
                )
            update_member(
                session,
                existing,
                first_name=values["first_name"],
                last_name=values["last_name"],
                document_id=values["document_id"],
                phone=values["phone"],
                birthday=values["birthday"],
            )
            note = self._opening(existing, values["points"])
            return Outcome(UPDATED, member_id=existing.id, message=note)
        member = create_member(
            session,
            email=values["email"],
            first_name=values["first_name"],
            last_name=values["last_name"],
            document_id=values["document_id"] or None,
            phone=values["phone"] or None,
            birthday=values["birthday"],
            joined_via="import",
            actor=self.actor,
            announce_created=False,  # the batch announces `members_enrolled`
        )
        self._opening(member, values["points"])
        return Outcome(CREATED, member_id=member.id)

    def bulk(self, valid: list[tuple[int, dict[str, Any]]]) -> dict[int, Outcome]:
        """New customers enrolled and given their opening balances set-based; a row
        naming an existing member (by e-mail or document) goes the per-row way."""
        session = self.session
        by_email = members_by_emails(session, (v["email"] for _n, v in valid))
        by_document = members_by_documents(
            session, (v["document_id"] for _n, v in valid if v["document_id"])
        )
        outcomes: dict[int, Outcome] = {}
        new: list[tuple[int, dict[str, Any]]] = []
        for number, values in valid:
            if values["email"] in by_email or values["document_id"] in by_document:
                outcomes[number] = self.settle(number, values)
            else:
                new.append((number, values))
        ids = enrol_in_bulk(
            session,
            [
                NewMember(
                    email=v["email"],
                    first_name=v["first_name"],
                    last_name=v["last_name"],
                    document_id=v["document_id"] or None,
                    phone=v["phone"] or None,
                    birthday=v["birthday"],
                    points=v["points"],
                )
                for _n, v in new
            ],
            actor=self.actor,
            joined_via="import",
            announce_enrolled=False,  # the batch announces, with its per-row creations
            opening_kind=OPENING,
            opening_key=opening_key,
        )
        for (number, _values), member_id in zip(new, ids, strict=True):
            if member_id is None:  # enrolled meanwhile by someone else: not ours to touch
                outcomes[number] = Outcome(
                    REFUSED, field="email", message=_l("This e-mail already belongs to a customer.")
                )
                continue
            outcomes[number] = Outcome(CREATED, member_id=member_id)
        return outcomes

    def _opening(self, member: Membership, points: int) -> Any:
        """The opening balance, once per member: a later file does not add it again."""
        if not points:
            return None
        key = opening_key(member.id)
        if self.session.scalar(select(Entry.id).where(Entry.idempotency_key == key)):
            return _l("The opening balance was given before; not given again.")
        earn(
            self.session,
            member,
            points=points,
            actor=self.actor,
            kind=OPENING,
            idempotency_key=key,
        )
        return None


def opening_key(member_id: int) -> str:
    return system_key("csv_import", OPENING, member_id)


class PointsRows(_Rows):
    """Each row a grant to a member named by code, e-mail or document: points, or a
    purchase amount through the till's path (the equivalence and the active rules)."""

    def values(self, number: int, cells: list[str], *, resolve: bool = True) -> dict[str, Any]:
        values: dict[str, Any] = {
            "description": self.text(cells, "description") or None,
            "reference": self.text(cells, "reference")[:120] or None,
            "points": self.whole_points(cells, zero=False),
            "amount": None,
        }
        raw_amount = self.cell(cells, "amount")
        if values["points"] is None and raw_amount:
            try:
                amount = parse_number(raw_amount, self.locale)
            except ValueError:
                amount = None
            if amount is None or amount <= 0:
                raise RowError("amount", _l("The amount must be a number greater than zero."))
            values["amount"] = amount
        if values["points"] is None and values["amount"] is None:
            field = "points" if "points" in self.imported.mapping else "amount"
            raise RowError(field, _l("Give the points or the purchase amount."))
        if resolve:
            values["member"] = self._member(cells)
        else:  # the batch finds its members at once (`bulk`)
            values["who"] = {f: self.cell(cells, f) for f in ("code", "email", "document_id")}
        return values

    def bulk(self, valid: list[tuple[int, dict[str, Any]]]) -> dict[int, Outcome]:
        """The batch's members found in three statements (by code, e-mail, document),
        its points rows credited set-based under their ledger keys; an amount row goes
        the till's way, row by row (the plugins' rules are Python)."""
        session = self.session
        codes = {v["who"]["code"].upper() for _n, v in valid if v["who"]["code"]}
        by_code = (
            dict(
                session.execute(
                    select(Membership.code, Membership.id).where(Membership.code.in_(codes))
                ).all()
            )
            if codes
            else {}
        )
        emails = {}
        for _n, v in valid:
            if not v["who"]["code"] and v["who"]["email"]:
                with suppress(InvalidInput):
                    emails[v["who"]["email"]] = normalize_email(v["who"]["email"])
        by_email = members_by_emails(session, emails.values())
        by_document = members_by_documents(
            session,
            (
                v["who"]["document_id"]
                for _n, v in valid
                if not v["who"]["code"] and not v["who"]["email"] and v["who"]["document_id"]
            ),
        )
        by_amount = not self._may_give_points()
        program = get_program(session)
        keep_description = program.get("description_field", True)
        outcomes: dict[int, Outcome] = {}
        credits: list[BulkCredit] = []
        credited: dict[str, tuple[int, int]] = {}  # key → (row, member)
        for number, values in valid:
            try:
                member_id = self._found(values["who"], by_code, emails, by_email, by_document)
            except RowError as error:
                outcomes[number] = Outcome(REFUSED, field=error.field, message=error.message)
                continue
            if values["points"] is None or by_amount:
                values["member"] = session.get(Membership, member_id)
                outcomes[number] = self.settle(number, values)
                continue
            key = points_key(self.imported, number)
            description = values["description"] if keep_description else None
            credits.append(
                BulkCredit(member_id, values["points"], key, description, values["reference"])
            )
            credited[key] = (number, member_id)
        written = credit_in_bulk(session, credits, kind="earn", actor=self.actor)
        for key, (number, member_id) in credited.items():
            if key in written:
                outcomes[number] = Outcome(GRANTED, member_id=member_id)
            else:
                outcomes[number] = Outcome(SKIPPED, member_id=member_id, message=_already())
        return outcomes

    def resolved(self, values: dict[str, Any]) -> dict[str, Any]:
        cells = ["" for _ in self.header]
        for field, value in values.pop("who", {}).items():
            index = self.imported.mapping.get(field)
            if index is not None:
                cells[index] = value
        values["member"] = self._member(cells)
        return values

    def _found(
        self,
        who: dict[str, str],
        by_code: dict[str, int],
        emails: dict[str, str],
        by_email: dict[str, int],
        by_document: dict[str, int],
    ) -> int:
        """The member a row names, as `_member` finds them (the code first)."""
        if who["code"]:
            if who["code"].upper() not in by_code:
                raise RowError("code", _l("No customer with this code."))
            return by_code[who["code"].upper()]
        if who["email"]:
            member_id = by_email.get(emails.get(who["email"], ""))
            if member_id is None:
                raise RowError("email", _l("No customer with this e-mail."))
            return member_id
        if who["document_id"]:
            if who["document_id"] not in by_document:
                raise RowError("document_id", _l("No customer with this document."))
            return by_document[who["document_id"]]
        field = next(f for f in ("code", "email", "document_id") if f in self.imported.mapping)
        raise RowError(field, _l("Say which customer: a code, an e-mail or a document."))

    def _may_give_points(self) -> bool:
        """As `give_points` decides (points without an amount): the per-row path
        refuses each row otherwise, with the till's message."""
        program = get_program(self.session)
        if not program.get("points_per_amount") or program.get("employees_give_points"):
            return True
        if self.actor.kind != "staff":
            return True
        role = self.session.scalar(select(StaffUser.role).where(StaffUser.id == self.actor.id))
        return role is not None and role != Role.EMPLOYEE

    def _member(self, cells: list[str]) -> Membership:
        code = self.cell(cells, "code")
        if code:
            try:
                return get_member(self.session, code)
            except NotFound:
                raise RowError("code", _l("No customer with this code.")) from None
        email = self.cell(cells, "email")
        if email:
            try:
                member = member_by_email(self.session, normalize_email(email))
            except InvalidInput:
                member = None
            if member is None:
                raise RowError("email", _l("No customer with this e-mail."))
            return member
        document = self.cell(cells, "document_id")
        if document:
            member = self.session.scalar(
                select(Membership).where(Membership.document_id == document)
            )
            if member is None:
                raise RowError("document_id", _l("No customer with this document."))
            return member
        field = next(f for f in ("code", "email", "document_id") if f in self.imported.mapping)
        raise RowError(field, _l("Say which customer: a code, an e-mail or a document."))

    def apply(self, number: int, values: dict[str, Any]) -> Outcome:
        key = points_key(self.imported, number)
        # Locked before looking for the key: a twin import of the same file that holds
        # the lock has committed by the time we get it, so its grant is seen, not redone.
        member = lock_member(self.session, values["member"].id)
        common = dict(
            actor=self.actor,
            reference=values["reference"],
            description=values["description"],
            idempotency_key=key,
        )
        if values["points"] is not None:
            if self.session.scalar(select(Entry.id).where(Entry.idempotency_key == key)):
                return Outcome(SKIPPED, member_id=member.id, message=_already())
            give_points(self.session, member, values["points"], **common)
        else:
            if self.session.scalar(select(Purchase.id).where(Purchase.idempotency_key == key)):
                return Outcome(SKIPPED, member_id=member.id, message=_already())
            record_purchase(self.session, member, values["amount"], **common)
        return Outcome(GRANTED, member_id=member.id)


def _already() -> Any:
    return _l("Given by an earlier import of this same file; not given again.")


def points_key(imported: Import, number: int) -> str:
    """The ledger key of a row: the same file's same row is one grant, whoever uploads it."""
    return system_key("csv_import", POINTS, imported.digest, number)


# --- the report ----------------------------------------------------------------

STATUS_LABELS = {
    CREATED: _l("Created"),
    UPDATED: _l("Updated"),
    GRANTED: _l("Granted"),
    REFUSED: _l("Refused"),
    SKIPPED: _l("Not repeated"),
}


def result_rows(session: Session, imported: Import) -> Iterator[list[Any]]:
    """The input's rows, each with its status, column and reason (streamed: the file and
    the results are read side by side, a batch of results at a time)."""
    results = _results(session, imported)
    current = next(results, None)
    for number, cells in table_of(imported).rows():
        while current is not None and current.row < number:
            current = next(results, None)
        if current is not None and current.row == number:
            yield [
                number,
                *cells,
                str(STATUS_LABELS[current.status]),
                current.column or "",
                current.message or "",
            ]
        else:
            yield [number, *cells, "", "", ""]


def _results(session: Session, imported: Import, batch: int = 2000) -> Iterator[ImportRow]:
    after = 0
    while True:
        rows = list(
            session.scalars(
                select(ImportRow)
                .where(ImportRow.import_id == imported.id, ImportRow.row > after)
                .order_by(ImportRow.row)
                .limit(batch)
            )
        )
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].row


def result_header(header: list[str]) -> list[Any]:
    return [_l("Row"), *header, _l("Status"), _l("Column"), _l("Reason")]


def refusals(session: Session, imported: Import, limit: int = 50) -> list[ImportRow]:
    return list(
        session.scalars(
            select(ImportRow)
            .where(ImportRow.import_id == imported.id, ImportRow.status == REFUSED)
            .order_by(ImportRow.row)
            .limit(limit)
        )
    )
