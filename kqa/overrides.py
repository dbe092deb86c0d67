"""Config sections from command-line values, and pydantic errors as lines a user reads.

Every command that sets a config value from an option goes through `override`, so a bad value is refused by the
section's own rules and named by the option the user typed:
    --engine: `engine`: Input should be 'local' or 'ray' (got 'spark')
A YAML file's errors read the same, with the file in front (kqa.config.load_config).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from kqa.errors import ConfigError, brief

S = TypeVar("S", bound=BaseModel)


def override(section: S | type[S], options: Mapping[str, str] | None = None, /, **values) -> S:
    """`section` (a config section, or its class for the defaults) with `values` from the command line, validated
    as the YAML section is. A bad value is a ConfigError naming the option, the key, the rule and the value.

    The option of field `f` is --f (dashes for underscores) unless `options` names another: {"extra_data": "--data"}.
    None is a value like any other: leave out the options the command line did not set."""
    cls = section if isinstance(section, type) else type(section)
    base = {} if isinstance(section, type) else section.model_dump()
    try:
        return cls.model_validate(base | values)
    except ValidationError as exc:
        names = {field: (options or {}).get(field, "--" + field.replace("_", "-")) for field in values}
        raise ConfigError("; ".join(_option_error(err, cls, names) for err in exc.errors())) from None


def _option_error(err: dict, model: type[BaseModel], names: dict[str, str]) -> str:
    """One problem, behind the option it comes from; a rule on several fields (no key) behind all of them."""
    field = str(err["loc"][0]) if err["loc"] else None
    if field is None:
        return f"{'/'.join(names.values())}: {_rule(err, model)}"
    return f"{names.get(field, '--' + field.replace('_', '-'))}: {describe_error(err, model)}"


def format_validation_error(exc: ValidationError, model: type[BaseModel] | None = None) -> str:
    """One line per problem: `section.key`: rule (got value). With `model`, an unknown key lists the valid ones."""
    return "; ".join(describe_error(err, model) for err in exc.errors())


def describe_error(err: dict, model: type[BaseModel] | None = None) -> str:
    """`section.key`: rule (got value), for one of a ValidationError's `errors()`."""
    key = ".".join(str(p) for p in err["loc"]) or "<root>"
    return f"`{key}`: {_rule(err, model)} (got {brief(err.get('input'))})"


def _rule(err: dict, model: type[BaseModel] | None) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key" + _valid_keys_hint(model, err["loc"])
    return err["msg"].removeprefix("Value error, ")


def _valid_keys_hint(model: type[BaseModel] | None, loc: tuple) -> str:
    """'; did you mean `mode`? valid keys of `scorer`: ...' found by walking `loc` down the nested sections."""
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if model else None
        kind = field.annotation if field else None
        model = kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None
    if model is None:
        return " (check the spelling; see the section's fields in kqa/config.py)"
    keys = sorted(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), keys, n=1)
    where = f"of `{'.'.join(map(str, loc[:-1]))}`" if len(loc) > 1 else "at the top level"
    return (f" (did you mean `{close[0]}`?);" if close else ";") + f" valid keys {where}: {', '.join(keys)}"
