"""The exception hierarchy: DB-API shape, SQLSTATE mapping, pickling."""

from __future__ import annotations

import pickle

import pytest

import pgcopy_fast as pcf
from pgcopy_fast.errors import class_for_sqlstate, error_from_fields

pytestmark = pytest.mark.kernel_free


@pytest.mark.parametrize(
    ("sqlstate", "cls"),
    [
        ("22012", pcf.DataError),
        ("23505", pcf.IntegrityError),
        ("42601", pcf.ProgrammingError),
        ("57014", pcf.QueryCanceled),
        ("57P01", pcf.OperationalError),
        ("28P01", pcf.OperationalError),
        ("0A000", pcf.NotSupportedError),
        ("XX000", pcf.InternalError),
        ("25P02", pcf.InternalError),
        ("ZZ999", pcf.DatabaseError),
    ],
)
def test_sqlstate_picks_the_dbapi_class(sqlstate: str, cls: type) -> None:
    assert class_for_sqlstate(sqlstate) is cls


def test_error_from_fields_keeps_every_field_and_pickles() -> None:
    err = error_from_fields(
        {
            "S": "ERROR",
            "V": "ERROR",
            "C": "23505",
            "M": "duplicate key",
            "D": "Key (a)=(1) already exists.",
            "W": "COPY t, line 5",
            "s": "public",
            "t": "t",
            "n": "t_pkey",
        }
    )
    assert isinstance(err, pcf.IntegrityError)
    assert (err.sqlstate, err.table, err.constraint, err.context) == (
        "23505",
        "t",
        "t_pkey",
        "COPY t, line 5",
    )
    assert str(err).splitlines()[:2] == [
        "ERROR:  duplicate key",
        "DETAIL:  Key (a)=(1) already exists.",
    ]
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is pcf.IntegrityError
    assert (again.sqlstate, again.detail, str(again)) == (
        err.sqlstate,
        err.detail,
        str(err),
    )


def test_encode_error_is_a_value_error_with_its_coordinates() -> None:
    err = pcf.EncodeError(
        "bad", row_index=3, column="b", pg_type="int4", value_type="str"
    )
    assert isinstance(err, ValueError) and isinstance(err, pcf.DataError)
    again = pickle.loads(pickle.dumps(err))
    assert (again.row_index, again.column, again.pg_type, again.value_type) == (
        3,
        "b",
        "int4",
        "str",
    )


def test_hierarchy_matches_design() -> None:
    assert issubclass(pcf.ProtocolError, pcf.OperationalError)
    assert issubclass(pcf.InterfaceError, pcf.Error)
    assert not issubclass(pcf.InterfaceError, pcf.DatabaseError)
    assert pcf.DatabaseError().sqlstate is None
