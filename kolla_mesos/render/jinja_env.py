"""A plain Jinja2 environment that renders kolla-ansible templates like ansible-core does.

No Ansible import: the behaviours that matter for output equality are reproduced here:

* native results: a template made of one expression (``"{{ x }}"``) yields the value itself
  (a list stays a list); several parts are joined as text, with None as the empty string;
* ``trim_blocks`` on, and trailing newlines of the source preserved;
* undefined names are strict: using one raises, naming the variable;
* the ``do`` and ``loopcontrols`` extensions, Ansible's filters and tests, and the
  ``lookup``/``query`` functions (``vars``, ``file``, ``env`` is refused: no host state).

Compiled templates are cached by source text, so a value rendered for 200 hosts is compiled
once.
"""

from __future__ import annotations

import collections
import itertools
import logging
import pathlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jinja2
import jinja2.nativetypes
import yaml
from jinja2.runtime import Context, Undefined

from kolla_mesos.errors import TemplateError, yaml_problem
from kolla_mesos.render import filters

LOG = logging.getLogger(__name__)

_OVERRIDE = "#jinja2:"
_OVERRIDABLE = frozenset({"trim_blocks", "lstrip_blocks", "newline_sequence",
                          "keep_trailing_newline", "block_start_string", "block_end_string",
                          "variable_start_string", "variable_end_string",
                          "comment_start_string", "comment_end_string"})

#: names of templates compiled without their ``#jinja2:`` first line
_HEADER_NAMES: set[str] = set()

#: Ansible's omit placeholder; fixed so that rendering stays deterministic
OMIT = "__omit_place_holder__kolla_mesos"


class KollaUndefined(jinja2.StrictUndefined):
    """StrictUndefined whose error names the variable (and, when deferred, why)."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        hint = self._undefined_hint
        if hint:
            return hint
        if self._undefined_obj is jinja2.utils.missing:
            return f"'{self._undefined_name}' is undefined"
        return (f"'{jinja2.utils.object_type_repr(self._undefined_obj)}' has no attribute "
                f"'{self._undefined_name}'")


class DeferredError(KollaUndefined):
    """A variable whose value failed to render; the failure is raised where it is used."""

    __slots__ = ()


@jinja2.pass_context
def _finalize(_ctx: Context, value: Any) -> Any:
    # pass_context also keeps Jinja from folding constant outputs into text at compile
    # time, so `{{ [1, 2] }}` stays a list, as in Ansible
    if isinstance(value, Undefined):
        hint = value._undefined_hint or ""
        if value._undefined_name is None and hint.startswith("the inline if-expression"):
            return ""  # `{{ x if cond }}` with a false cond renders nothing, as in Ansible
        value._fail_with_undefined_error()
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _concat(values: Iterable[Any]) -> Any:
    """Ansible 2.19's concat: one node keeps its type, several are joined as text.

    VALUES may be a list (a macro's buffer), not only a generator: iterate it once.
    """
    values = iter(values)
    head = list(itertools.islice(values, 2))
    if not head:
        return None
    if len(head) == 1:
        return head[0]
    return "".join(_text(v) for v in itertools.chain(head, values))


def _trailing_newlines(text: str) -> int:
    return len(text) - len(text.rstrip("\n"))


class KollaEnvironment(jinja2.nativetypes.NativeEnvironment):
    """The rendering environment, with a compile cache keyed by source text."""

    concat = staticmethod(_concat)

    def __init__(self, search_dirs: Iterable[pathlib.Path] = ()) -> None:
        super().__init__(trim_blocks=True, undefined=KollaUndefined, finalize=_finalize,
                         extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
                         autoescape=False, keep_trailing_newline=False)
        self.search_dirs = [pathlib.Path(d) for d in search_dirs]
        self.filters.update(filters.all_filters())
        self.tests.update(filters.all_tests())
        self.globals.update(range=range, omit=OMIT, lookup=_lookup, query=_query, q=_query)
        self._cache: dict[tuple[int, str, str], jinja2.Template] = {}
        self._overlays: dict[tuple[str, ...], KollaEnvironment] = {}

    def compiled(self, source: str, name: str) -> jinja2.Template:
        """The compiled template for SOURCE; NAME is what errors and tracebacks show.

        A first line ``#jinja2: trim_blocks: False, ...`` sets environment options for
        that template and is removed, as Ansible does.
        """
        key = (id(self), source, name)
        tmpl = self._cache.get(key)
        if tmpl is None:
            env: jinja2.Environment = self
            body = source
            if source.startswith(_OVERRIDE):
                header, _, body = source.partition("\n")
                env = self._overlay(header[len(_OVERRIDE):], name)
                _HEADER_NAMES.add(name)  # its lines are one off: see error_location
            try:
                code = env.compile(body, name=name, filename=name)
            except jinja2.TemplateSyntaxError as exc:
                lineno = exc.lineno + (1 if body is not source else 0)
                raise TemplateError(f"{name} line {lineno}: template syntax error: "
                                    f"{exc.message}.") from exc
            tmpl = env.template_class.from_code(env, code, env.make_globals(None), None)
            self._cache[key] = tmpl
        return tmpl

    def _overlay(self, options: str, name: str) -> jinja2.Environment:
        try:
            parsed = yaml.safe_load("{" + options.strip() + "}")
        except yaml.YAMLError as exc:
            raise TemplateError(f"{name} line 1: the #jinja2: header cannot be parsed: "
                                f"{yaml_problem(exc)}.") from exc
        if not isinstance(parsed, dict) or not set(parsed) <= _OVERRIDABLE:
            raise TemplateError(f"{name} line 1: the #jinja2: header may only set "
                                f"{', '.join(sorted(_OVERRIDABLE))}.")
        return self.overlay(**parsed)

    def for_dirs(self, dirs: Iterable[pathlib.Path]) -> KollaEnvironment:
        """An overlay (same filters, tests, globals and compile cache) whose ``include`` and
        ``import`` look in DIRS, first match wins."""
        key = tuple(str(d) for d in dirs)
        env = self._overlays.get(key)
        if env is None:
            env = self._overlays[key] = self.overlay(
                loader=jinja2.FileSystemLoader(list(key)))
        return env

    def render_native(self, source: str, name: str, variables: Mapping[str, Any]) -> Any:
        """Render SOURCE with VARIABLES (looked up lazily); the native result.

        VARIABLES is Jinja's context parent; unless it has ``includes_globals`` (the
        renderer's lazy host variables do), the environment's globals are added.

        Raises the exception of the failing expression, with Jinja's traceback rewritten so
        that ``error_location`` can find the template line.
        """
        tmpl = self.compiled(source, name)
        if not getattr(variables, "includes_globals", False):
            variables = collections.ChainMap(variables, self.globals)  # type: ignore[arg-type]
        ctx = tmpl.new_context(variables, shared=True)  # type: ignore[arg-type]
        try:
            result = self.concat(tmpl.root_render_func(ctx))
        except Exception:
            self.handle_exception(source)
        if isinstance(result, str):
            missing = _trailing_newlines(source) - _trailing_newlines(result)
            if missing > 0:
                result += "\n" * missing
        return result

    def render_text(self, source: str, name: str, variables: Mapping[str, Any]) -> str:
        """Render SOURCE as a file: always text."""
        return _text(self.render_native(source, name, variables))


def error_location(exc: BaseException, name: str) -> int | None:
    """The line of template NAME where EXC was raised (the innermost frame), if known."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == name:
            line = tb.tb_lineno
        tb = tb.tb_next
    if line is not None and name in _HEADER_NAMES:
        line += 1  # the removed #jinja2: first line
    return line


def describe(exc: BaseException) -> str:
    """One-line description of a rendering exception, without a trailing period."""
    if isinstance(exc, jinja2.UndefinedError | TemplateError):
        text = str(exc)
    elif isinstance(exc, yaml.YAMLError):
        # from_yaml on a rendered value: PyYAML's own message quotes the value's lines
        text = f"{type(exc).__name__}: {yaml_problem(exc)}"
    elif isinstance(exc, jinja2.TemplateError):
        text = f"{type(exc).__name__}: {exc}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text.rstrip(".")


def _vars_of(context: Context) -> Callable[[str], Any]:
    def get(name: str) -> Any:
        value = context.resolve_or_missing(name)
        if value is jinja2.utils.missing:
            raise KeyError(name)
        return value
    return get


def _run_lookup(context: Context, plugin: str, terms: tuple[Any, ...],
                kwargs: dict[str, Any]) -> list[Any]:
    plugin = plugin.rsplit(".", 1)[-1]
    if plugin == "vars":
        get = _vars_of(context)
        out = []
        for term in terms:
            try:
                out.append(get(term))
            except KeyError:
                if "default" in kwargs:
                    out.append(kwargs["default"])
                else:
                    raise TemplateError(f"lookup('vars'): No variable named '{term}'.") from None
        return out
    if plugin == "file":
        env = context.environment
        dirs = getattr(env, "search_dirs", [])
        out = []
        for term in terms:
            for d in dirs:
                path = pathlib.Path(d) / str(term)
                if path.is_file():
                    out.append(path.read_text().rstrip("\n") if kwargs.get("rstrip", True)
                               else path.read_text())
                    break
            else:
                raise TemplateError(f"lookup('file'): the file '{term}' was not found in "
                                    f"{', '.join(str(d) for d in dirs) or 'any search dir'}.")
        return out
    raise TemplateError(f"lookup plugin '{plugin}' is not supported by kolla-mesos rendering.")


@jinja2.pass_context
def _lookup(context: Context, plugin: str, *terms: Any, **kwargs: Any) -> Any:
    wantlist = kwargs.pop("wantlist", False)
    out = _run_lookup(context, plugin, terms, kwargs)
    if wantlist:
        return out
    if plugin.rsplit(".", 1)[-1] == "vars" and len(out) == 1:
        return out[0]
    return ",".join(_text(x) for x in out)


@jinja2.pass_context
def _query(context: Context, plugin: str, *terms: Any, **kwargs: Any) -> list[Any]:
    kwargs.pop("wantlist", None)
    return _run_lookup(context, plugin, terms, kwargs)
