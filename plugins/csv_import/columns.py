"""The fields of each kind of import and the headers that name them, in the three
languages and the variants merchants' spreadsheets use (matched by
`core.sdk.header_key`: case, accents, spaces and hyphens folded)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from plugins.csv_import.models import CUSTOMERS, POINTS

CUSTOMER_FIELDS: dict[str, tuple[str, ...]] = {
    "first_name": (
        "nombres",
        "nombre",
        "first_name",
        "first name",
        "name",
        "nome",
        "primeiro_nome",
    ),
    "last_name": ("apellidos", "apellido", "last_name", "last name", "surname", "sobrenome"),
    "email": ("email", "e-mail", "correo", "correo_electronico", "mail", "e_mail"),
    "document_id": (
        "documento_de_identidad",
        "documento",
        "cedula",
        "cédula",
        "document",
        "document_id",
        "id_number",
        "cpf",
        "identificacion",
        "nit",
    ),
    "phone": ("telefono", "teléfono", "celular", "movil", "phone", "mobile", "telefone"),
    "birthday": (
        "fecha_de_nacimiento",
        "cumpleanos",
        "cumpleaños",
        "nacimiento",
        "birthday",
        "birth_date",
        "date_of_birth",
        "data_de_nascimento",
        "aniversario",
    ),
    "points": (
        "puntos",
        "saldo",
        "saldo_inicial",
        "points",
        "balance",
        "opening_balance",
        "pontos",
    ),
}

POINTS_FIELDS: dict[str, tuple[str, ...]] = {
    "code": ("codigo", "código", "code", "customer_code", "codigo_de_cliente"),
    "email": CUSTOMER_FIELDS["email"],
    "document_id": CUSTOMER_FIELDS["document_id"],
    "points": ("puntos", "points", "pontos"),
    "amount": (
        "monto",
        "valor",
        "importe",
        "compra",
        "amount",
        "purchase",
        "total",
        "valor_da_compra",
    ),
    "description": ("descripcion", "descripción", "concepto", "description", "descricao", "motivo"),
    "reference": ("referencia", "factura", "reference", "invoice", "referencia_externa", "nota"),
}

FIELDS = {CUSTOMERS: CUSTOMER_FIELDS, POINTS: POINTS_FIELDS}

LABELS = {
    "first_name": _l("First name"),
    "last_name": _l("Last name"),
    "email": _l("E-mail"),
    "document_id": _l("Document"),
    "phone": _l("Phone"),
    "birthday": _l("Birthday"),
    "points": _l("Points"),
    "code": _l("Customer code"),
    "amount": _l("Purchase amount"),
    "description": _l("Description"),
    "reference": _l("Reference"),
}


def usable(kind: str, mapping: dict[str, int]) -> bool:
    """Whether the columns let a row do anything: an e-mail for customers; a member and
    points or an amount for bulk points."""
    if kind == CUSTOMERS:
        return "email" in mapping
    names_member = any(field in mapping for field in ("code", "email", "document_id"))
    return names_member and ("points" in mapping or "amount" in mapping)
