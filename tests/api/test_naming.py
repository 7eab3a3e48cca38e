"""Naming rules guard every name before it reaches a URL, a table key or a shell command."""

from __future__ import annotations

import pytest

from shared.errors import ValidationError
from shared.naming import (
    check_connection_name,
    check_container,
    check_dataset_id,
    check_prefix,
    check_storage_account,
    connection_name_key,
    is_connection_id,
    new_connection_id,
    require_org_id,
)


@pytest.mark.parametrize("name", ["abc", "contosomedia", "a1b2c3", "x" * 24])
def test_valid_storage_accounts(name: str) -> None:
    assert check_storage_account(name) == (name, [])


@pytest.mark.parametrize(
    "name", ["ab", "x" * 25, "Contoso", "contoso-media", "contoso_media", "contoso.media", "évian"]
)
def test_invalid_storage_accounts(name: str) -> None:
    _, errors = check_storage_account(name)
    assert [(e.field, e.code) for e in errors] == [("storageAccount", "invalid_format")]


@pytest.mark.parametrize("name", ["abc", "my-container", "a1-b2-c3", "x" * 63, "123"])
def test_valid_containers(name: str) -> None:
    assert check_container(name) == (name, [])


@pytest.mark.parametrize(
    "name",
    ["ab", "x" * 64, "My-container", "my--container", "-abc", "abc-", "my_container", "a.b.c"],
)
def test_invalid_containers(name: str) -> None:
    _, errors = check_container(name)
    assert [e.code for e in errors] == ["invalid_format"]


def test_missing_and_mistyped_values_are_reported_as_such() -> None:
    assert check_container(None)[1][0].code == "required"
    assert check_container("   ")[1][0].code == "required"
    assert check_storage_account(42)[1][0].code == "invalid_type"
    assert check_dataset_id("bad id!")[1][0].code == "invalid_format"


def test_prefix_is_normalised_and_bounded() -> None:
    assert check_prefix(None) == ("", [])
    assert check_prefix("/images/cats/") == ("images/cats/", [])
    assert check_prefix("//x") == ("x", [])
    assert check_prefix("a" * 1024) == ("a" * 1024, [])
    assert check_prefix("a" * 1025)[1][0].code == "too_long"
    assert check_prefix("bad\x07prefix")[1][0].code == "invalid_characters"
    assert check_prefix("c1\x85")[1][0].code == "invalid_characters"
    assert check_prefix(5)[1][0].code == "invalid_type"


def test_connection_names_are_trimmed_and_bounded() -> None:
    assert check_connection_name("  Cats 2024  ") == ("Cats 2024", [])
    assert check_connection_name("x" * 100)[1] == []
    assert check_connection_name("x" * 101)[1][0].code == "too_long"
    assert check_connection_name("tab\tname")[1][0].code == "invalid_characters"
    assert check_connection_name("")[1][0].code == "required"


def test_name_key_ignores_case_width_and_spacing() -> None:
    assert connection_name_key("Cats  2024") == connection_name_key("cats 2024")
    assert connection_name_key("ＣＡＴＳ") == connection_name_key("cats")
    assert connection_name_key("cats") != connection_name_key("dogs")


def test_connection_ids_are_random_and_url_safe() -> None:
    ids = {new_connection_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(is_connection_id(i) for i in ids)
    assert not is_connection_id("../../etc")
    assert not is_connection_id("ABCDEFGHIJKLMNOP")


@pytest.mark.parametrize("org", ["ab", "-abc", "abc-", "Acme", "a_b_c", "x" * 64, "a/b"])
def test_invalid_org_ids_raise_a_validation_error(org: str) -> None:
    with pytest.raises(ValidationError) as info:
        require_org_id(org)
    assert info.value.errors[0].field == "org"


@pytest.mark.parametrize("text", ["\ud800", "cats\udfff", "\ud83d\ude00 ok \udc00"])
def test_lone_surrogates_are_refused_not_crashed_on(text: str) -> None:
    _, name_errors = check_connection_name(text)
    _, prefix_errors = check_prefix(text)
    assert [(e.field, e.code) for e in name_errors] == [("name", "invalid_characters")]
    assert [(e.field, e.code) for e in prefix_errors] == [("prefix", "invalid_characters")]
    assert len(connection_name_key(text)) == 32  # the key rule never raises either
