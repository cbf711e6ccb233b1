"""``completion bash|zsh``: shell completion for skiffctl, as ``kubectl completion`` gives it.

The scripts are small: on each TAB they run ``skiffctl __complete WORD... CURRENT`` and offer
the lines it prints. ``__complete`` (hidden from ``skiffctl -h``; kubectl's cobra has the same
verb) walks the live argparse tree, so every verb, sub-verb and flag registered by a command
module completes without a list kept here. It completes:

- verbs and sub-verbs (``rollout status``, ``create deployment``, ``config use-context``);
- the flags of the verb being typed (long and short; ``--flag=VALUE`` too);
- resource types where a positional is a TYPE (``get``, ``delete``, ``label``, ``wait``...):
  every resource, singular and short name of ``skiff.api.kinds``;
- object names after a type (and after ``TYPE/``), fetched by running ``get TYPE -o name`` in this
  process with the ``-n`` / ``--context`` / ``--server`` / ``--config`` typed so far and a short
  ``--request-timeout``; any error is silent (no candidates);
- values of ``-n`` (namespace names), ``--context`` (the config file's contexts), ``-o`` (the
  formats ``skiff.cli.printers`` accepts, or the flag's ``choices``), and of any flag with choices.

The output protocol is cobra's: one candidate per line, then ``:DIRECTIVE``, a bit set of
``NO_SPACE`` (1: do not add a space, the word goes on: ``pod/``, ``--output=``) and ``FILES``
(2: let the shell complete file names, for ``-f``).
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from skiff.api import kinds
from skiff.cli.context import Context, UsageError
from skiff.cli.printers import OUTPUT_FORMATS
from skiff.client.config import config_path, load_config

NO_SPACE = 1
FILES = 2

NAME_TIMEOUT = "2s"
"""The ``--request-timeout`` of the ``get`` that fetches names: a TAB must not hang."""

SHELLS = ("bash", "zsh")

# The global flags whose values choose the server and namespace the names are fetched from.
_PASSTHROUGH = ("server", "config", "namespace", "context")

NameFetcher = Callable[[str, dict[str, str]], Awaitable[list[str]]]
"""(resource type as typed, the passthrough flags typed so far) -> object names."""


# ---- the walk over the command line ----

@dataclass
class _Line:
    """What the words before the current one say: the (sub)parser reached, the verb path, the
    positionals given to it, the flags' values, and whether ``--`` ended the flags."""

    parser: argparse.ArgumentParser
    path: list[str] = field(default_factory=list)
    positionals: list[str] = field(default_factory=list)
    flags: dict[str, str] = field(default_factory=dict)
    pending: argparse.Action | None = None
    """The flag whose value is the current word (``-n <TAB>``)."""
    dashdash: bool = False


def _subparsers(p: argparse.ArgumentParser) -> argparse._SubParsersAction | None:  # type: ignore[type-arg]
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def _option(p: argparse.ArgumentParser, word: str) -> tuple[argparse.Action | None, str | None]:
    """The flag a word names and the value attached to it (``--output=json``, ``-nkube-system``)."""
    if word in p._option_string_actions:
        return p._option_string_actions[word], None
    if word.startswith("--") and "=" in word:
        name, _, value = word.partition("=")
        return p._option_string_actions.get(name), value
    if not word.startswith("--") and len(word) > 2:
        action = p._option_string_actions.get(word[:2])
        if action is not None and _takes_value(action):
            return action, word[2:]
    return None, None


def _walk(root: argparse.ArgumentParser, words: list[str]) -> _Line:
    line = _Line(parser=root)
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if line.dashdash:
            line.positionals.append(word)
            continue
        if word == "--":
            line.dashdash = True
            continue
        if word.startswith("-") and word != "-":
            action, value = _option(line.parser, word)
            if action is None or not _takes_value(action):
                continue
            if value is None:
                if i == len(words):
                    line.pending = action
                    break
                if action.nargs == "?" and (words[i].startswith("-") or
                                            (action.choices is not None and words[i] not in action.choices)):
                    continue
                value = words[i]
                i += 1
            line.flags[action.dest] = value
            continue
        sub = _subparsers(line.parser)
        if sub is not None and not line.positionals and word in sub.choices:
            line.parser = sub.choices[word]
            line.path.append(word)
            continue
        line.positionals.append(word)
    return line


# ---- candidates ----

def resource_types() -> list[str]:
    """Every name a resource type goes by: plural, singular, short names."""
    names = {n for k in kinds.KINDS for n in (k.resource, k.singular, *k.short_names)}
    return sorted(names)


def context_names(config_file: str | None = None) -> list[str]:
    try:
        return sorted(load_config(config_path(config_file)).contexts)
    except Exception:  # an unreadable config completes nothing
        return []


def _verbs(p: argparse.ArgumentParser) -> list[str]:
    """The sub-verbs of a parser, without aliases and hidden verbs (``__complete``)."""
    sub = _subparsers(p)
    if sub is None:
        return []
    seen: set[int] = set()
    verbs = []
    for name, parser in sub.choices.items():
        if id(parser) in seen or name.startswith("_"):
            continue
        seen.add(id(parser))
        verbs.append(name)
    return verbs


def _flags(p: argparse.ArgumentParser) -> list[str]:
    found: list[str] = []
    for action in p._actions:
        if action.help == argparse.SUPPRESS or not action.option_strings:
            continue
        found.extend(s for s in action.option_strings if s not in found)
    return found


def _is_file_flag(action: argparse.Action) -> bool:
    return action.dest in ("filename", "config") or any(s.endswith("-file") for s in action.option_strings)


async def _flag_values(action: argparse.Action, line: _Line, fetch: NameFetcher) -> tuple[list[str], int]:
    if _is_file_flag(action):
        return [], FILES
    if action.dest == "namespace":
        return await fetch("namespaces", {k: v for k, v in line.flags.items() if k != "namespace"}), 0
    if action.dest == "context":
        return context_names(line.flags.get("config")), 0
    if action.choices:
        return [str(c) for c in action.choices if str(c)], 0
    if action.dest == "output":
        return list(OUTPUT_FORMATS), 0
    return [], 0


def _slots(action: argparse.Action) -> list[str]:
    """A positional's words as its metavar (or help) spells them: ``TYPE NAME KEY=VAL... KEY-``."""
    text = action.metavar if isinstance(action.metavar, str) else ""
    if not text and action.help and action.help != argparse.SUPPRESS and action.help.split()[0].isupper():
        text = action.help
    if not text:
        return ["TYPE", "NAME..."] if action.dest in ("targets", "resources") else \
            ["TYPE"] if action.dest == "resource" else [action.dest.upper()]
    return text.strip("()").split(" | ")[0].split()


def _positional_slot(line: _Line) -> str | None:
    """The word the current positional stands for, or None when nothing is known about it."""
    actions = [a for a in line.parser._actions
               if not a.option_strings and not isinstance(a, argparse._SubParsersAction)]
    if not actions:
        return None
    index = len(line.positionals)
    for action in actions:
        if action.nargs in ("*", "+", argparse.REMAINDER):
            slots = _slots(action)
            if index < len(slots):
                return slots[index]
            last = slots[-1]
            return last if "..." in last or len(slots) == 1 else None
        if index == 0:
            return _slots(action)[0]
        index -= 1
    return None


def _action_for_positional(line: _Line) -> argparse.Action | None:
    actions = [a for a in line.parser._actions
               if not a.option_strings and not isinstance(a, argparse._SubParsersAction)]
    index = len(line.positionals)
    for action in actions:
        if action.nargs in ("*", "+", argparse.REMAINDER) or index == 0:
            return action
        index -= 1
    return None


async def _typed_names(type_text: str, line: _Line, fetch: NameFetcher) -> list[str]:
    if not type_text or "," in type_text:
        return []
    try:
        kinds.lookup(type_text)
    except kinds.UnknownKind:
        return []
    return await fetch(type_text, {k: v for k, v in line.flags.items() if k in _PASSTHROUGH})


async def _positionals(line: _Line, cur: str, fetch: NameFetcher) -> tuple[list[str], int]:
    verbs = _verbs(line.parser)
    if verbs and not line.positionals:
        return verbs, 0
    action = _action_for_positional(line)
    if action is not None and action.choices:
        return [str(c) for c in action.choices], 0
    slot = _positional_slot(line)
    if slot is None:
        return [], 0
    if line.path and line.path[0] == "config" and slot in ("NAME", "NAMES"):
        return context_names(line.flags.get("config")), 0
    if slot.islower():  # a literal word (``taint node NAME``)
        return [slot], 0
    first = line.positionals[0] if line.positionals else ""
    if "TYPE" in slot or ("NAME" in slot and "/" in first):
        if "/" in cur:
            type_text = cur.split("/", 1)[0]
            return [f"{type_text}/{n}" for n in await _typed_names(type_text, line, fetch)], 0
        if "," in cur and "TYPE" in slot and not line.positionals:
            head = cur.rsplit(",", 1)[0] + ","
            return [head + t for t in resource_types()], 0
        names = await fetch("pods", _passthrough(line)) if slot.startswith("POD") else []
        if "/NAME" in slot or "/" in first:
            return names + [f"{t}/" for t in resource_types()], NO_SPACE if not names else 0
        return names + resource_types(), 0
    if slot.startswith("POD"):
        return await fetch("pods", _passthrough(line)), 0
    if slot.startswith("NODE"):
        return await fetch("nodes", _passthrough(line)), 0
    if "NAME" in slot and "=" not in slot and line.positionals:
        return await _typed_names(first, line, fetch), 0
    return [], 0


def _passthrough(line: _Line) -> dict[str, str]:
    return {k: v for k, v in line.flags.items() if k in _PASSTHROUGH}


async def complete(root: argparse.ArgumentParser, words: list[str], fetch: NameFetcher) -> tuple[list[str], int]:
    """The candidates for the last of ``words`` (the words after ``skiffctl``; the last one is
    the one being completed, "" after a space) and the directive for the shell."""
    before, cur = words[:-1], words[-1] if words else ""
    line = _walk(root, before)
    directive = 0
    prefix = ""
    if line.pending is not None:
        candidates, directive = await _flag_values(line.pending, line, fetch)
    elif not line.dashdash and cur.startswith("-"):
        action, value = _option(line.parser, cur)
        if action is not None and value is not None and cur.startswith("--"):
            prefix = cur[:len(cur) - len(value)]
            candidates, directive = await _flag_values(action, line, fetch)
            candidates = [prefix + c for c in candidates]
        else:
            candidates = _flags(line.parser)
    else:
        candidates, directive = await _positionals(line, cur, fetch)
    matching = [c for c in dict.fromkeys(candidates) if c.startswith(cur)]
    if any(c.endswith(("/", "=")) for c in matching) and len(matching) == 1:
        directive |= NO_SPACE
    return matching, directive


# ---- names, from this very skiffctl ----

async def fetch_names(type_text: str, flags: dict[str, str]) -> list[str]:
    """``skiffctl get TYPE -o name`` (run here, not in a new process), names only; [] on any error."""
    from skiff.cli.main import build_parser  # main imports this module

    argv = ["get", type_text, "-o", "name", "--request-timeout", NAME_TIMEOUT]
    for dest, value in flags.items():
        if dest in _PASSTHROUGH and value:
            argv += [f"--{dest}", value]
    out = io.StringIO()
    try:
        args = build_parser().parse_args(argv)
        ctx = Context.from_args(args, timeout=2.0)
        ctx.out, ctx.err = out, io.StringIO()
        try:
            await args.run(ctx)
        finally:
            await ctx.close()
    except (Exception, SystemExit):
        pass
    return [line.rsplit("/", 1)[-1] for line in out.getvalue().splitlines() if line.strip()]


async def run_complete(ctx: Context) -> int:
    from skiff.cli.main import build_parser  # main imports this module

    candidates, directive = await complete(build_parser(), list(ctx.args.words), fetch_names)
    for candidate in candidates:
        ctx.out.write(candidate + "\n")
    ctx.out.write(f":{directive}\n")
    ctx.out.flush()
    return 0


# ---- the scripts ----

BASH = r"""# bash completion for skiffctl                              -*- shell-script -*-
# Load it with: source <(skiffctl completion bash)

_skiffctl()
{
    # The words as typed: bash splits "--output=js" into "--output" "=" "js" (COMP_WORDBREAKS),
    # so words that touch in COMP_LINE are joined again.
    local i w rest trimmed args=() line=${COMP_LINE-} pos=0
    for ((i = 0; i <= COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        rest=${line:pos}
        trimmed=${rest#"${rest%%[![:space:]]*}"}
        ((pos += ${#rest} - ${#trimmed} + ${#w}))
        if ((i == 0)); then continue; fi
        if [[ -n $line && ${#rest} == "${#trimmed}" && ${#args[@]} -gt 0 ]]; then
            args[${#args[@]}-1]+=$w
        else
            args+=("$w")
        fi
    done
    ((COMP_CWORD > 0)) || return
    # What bash replaces is the part after the last word break; the candidates are whole words.
    local cur=${args[${#args[@]}-1]} bashcur=${COMP_WORDS[COMP_CWORD]}
    [[ $bashcur == [=:] ]] && bashcur=""
    local strip=${cur%"$bashcur"}

    local out directive c
    out=$("${COMP_WORDS[0]}" __complete "${args[@]}" 2>/dev/null) || return
    directive=${out##*:}
    out=${out%:*}
    COMPREPLY=()
    if ((directive & 2)); then
        compopt -o default 2>/dev/null
        return
    fi
    while IFS= read -r c; do
        [[ -n $c ]] && COMPREPLY+=("${c#"$strip"}")
    done <<< "$out"
    if ((directive & 1)); then
        compopt -o nospace 2>/dev/null
    fi
}

complete -o nosort -F _skiffctl skiffctl 2>/dev/null || complete -F _skiffctl skiffctl
"""

ZSH = r"""#compdef skiffctl
# zsh completion for skiffctl
# Load it with: source <(skiffctl completion zsh)   (after compinit)

_skiffctl()
{
    local -a lines candidates
    local out directive
    out=$(${words[1]} __complete "${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
    lines=("${(@f)out}")
    directive=${lines[-1]#:}
    candidates=("${(@)lines[1,-2]}")
    if (( directive & 2 )); then
        _files
        return
    fi
    if (( directive & 1 )); then
        compadd -Q -S '' -- "${candidates[@]}"
    else
        compadd -Q -- "${candidates[@]}"
    fi
}

if [ "$funcstack[1]" = "_skiffctl" ]; then
    _skiffctl "$@"
else
    compdef _skiffctl skiffctl
fi
"""

SCRIPTS = {"bash": BASH, "zsh": ZSH}


async def run_completion(ctx: Context) -> int:
    shells: list[str] = ctx.args.shells
    see = "\nSee 'skiffctl completion -h' for help and examples"
    if not shells:
        raise UsageError("error: Shell not specified." + see)
    if len(shells) > 1:
        raise UsageError("error: Too many arguments. Expected only the shell type." + see)
    if shells[0] not in SCRIPTS:
        raise UsageError(f'error: Unsupported shell type "{shells[0]}".' + see)
    ctx.out.write(SCRIPTS[shells[0]])
    ctx.out.flush()
    return 0


DESCRIPTION = """\
Output shell completion code for the specified shell (bash or zsh). The shell code must be \
evaluated to provide interactive completion of skiffctl commands. This can be done by sourcing it \
from the .bash_profile.

 Note for zsh users: zsh completions need compinit (autoload -U compinit; compinit)."""

EXAMPLES = """\
Examples:
  # Installing bash completion on Linux
  ## If bash-completion is not installed on Linux, install the 'bash-completion' package
  ## via your distribution's package manager.
  ## Load the skiffctl completion code for bash into the current shell
  source <(skiffctl completion bash)
  ## Write bash completion code to a file and source it from .bash_profile
  skiffctl completion bash > ~/.skiff/completion.bash.inc
  printf "
  # skiffctl shell completion
  source '$HOME/.skiff/completion.bash.inc'
  " >> $HOME/.bash_profile
  source $HOME/.bash_profile

  # Load the skiffctl completion code for zsh into the current shell
  source <(skiffctl completion zsh)
  # Set the skiffctl completion code for zsh to autoload on startup
  skiffctl completion zsh > "${fpath[1]}/_skiffctl\""""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("completion", help="output shell completion code for the specified shell (bash or zsh)",
                       usage="skiffctl completion SHELL [options]", description=DESCRIPTION, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shells", nargs="*", metavar="SHELL", help="bash | zsh")
    p.set_defaults(run=run_completion)

    # No help=: argparse then leaves it out of `skiffctl -h`.
    p = sub.add_parser("__complete", add_help=False)

    def take_all(args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        # Every word is the line being completed, flags included: none is parsed here.
        return argparse.Namespace(words=list(args or []), run=run_complete), []

    p.parse_known_args = take_all  # type: ignore[method-assign,assignment]
