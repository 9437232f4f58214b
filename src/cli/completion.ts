import type { Command, Option } from "commander";

/** The shells `pairgate completion` writes scripts for. */
export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = (typeof SHELLS)[number];

interface Node {
  /** Command path below the root, e.g. ["pairing", "list"]. */
  path: string[];
  subcommands: string[];
  options: string[];
  described: Array<{ name: string; description: string }>;
}

function optionFlags(options: readonly Option[]): string[] {
  return options.flatMap((o) => [o.short, o.long].filter((f): f is string => f !== undefined));
}

/** Every command of the tree with its subcommands and options (help included). */
function walk(cmd: Command, path: string[] = []): Node[] {
  const own: Node = {
    path,
    subcommands: cmd.commands.map((c) => c.name()),
    options: [...optionFlags(cmd.options), "--help"],
    described: [
      ...cmd.commands.map((c) => ({ name: c.name(), description: c.description() })),
      ...cmd.options.filter((o) => o.long !== undefined).map((o) => ({ name: o.long ?? "", description: o.description })),
    ],
  };
  return [own, ...cmd.commands.flatMap((c) => walk(c, [...path, c.name()]))];
}

const single = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The shell loop (same in bash and zsh) that walks the typed words and leaves the command path they
 * name in $cmdpath, skipping options. `words` is the shell expression of the words before the cursor.
 */
function pathLoop(nodes: Node[], words: string): string {
  const cases = nodes.filter((n) => n.path.length > 0).map((n) => `      ${single(n.path.join(" "))}) cmdpath=${single(n.path.join(" "))} ;;`);
  return [`  for w in ${words}; do`, '    [[ "$w" == -* ]] && continue', '    case "${cmdpath:+$cmdpath }$w" in', ...cases, "    esac", "  done"].join("\n");
}

function bash(nodes: Node[]): string {
  const cases = nodes
    .map((n) => `    ${single(n.path.join(" "))}) cands=${single([...n.subcommands, ...n.options].join(" "))} ;;`)
    .join("\n");
  return `# pairgate bash completion. Load with: source <(pairgate completion bash)
_pairgate() {
  local cur cmdpath="" w cands
  cur="\${COMP_WORDS[COMP_CWORD]}"
${pathLoop(nodes, '"${COMP_WORDS[@]:1:COMP_CWORD-1}"')}
  case "$cmdpath" in
${cases}
    *) cands="" ;;
  esac
  COMPREPLY=($(compgen -W "$cands" -- "$cur"))
}
complete -o default -F _pairgate pairgate
`;
}

function zsh(nodes: Node[]): string {
  const cases = nodes
    .map((n) => `    ${single(n.path.join(" "))}) cands=(${[...n.subcommands, ...n.options].map(single).join(" ")}) ;;`)
    .join("\n");
  return `#compdef pairgate
# pairgate zsh completion. Load with: source <(pairgate completion zsh)
_pairgate() {
  local cmdpath="" w
  local -a cands
${pathLoop(nodes, "${words[2,CURRENT-1]}")}
  case "$cmdpath" in
${cases}
  esac
  compadd -- $cands
}
if (( $+functions[compdef] )); then compdef _pairgate pairgate; fi
`;
}

function fish(nodes: Node[]): string {
  const lines = ["# pairgate fish completion. Load with: pairgate completion fish | source", "complete -c pairgate -f"];
  for (const n of nodes) {
    const condition =
      n.path.length === 0
        ? "__fish_use_subcommand"
        : `__fish_seen_subcommand_from ${n.path.at(-1) ?? ""}`;
    for (const d of n.described) {
      const isOption = d.name.startsWith("--");
      lines.push(
        `complete -c pairgate -n ${single(condition)} ${isOption ? `-l ${d.name.slice(2)}` : `-a ${single(d.name)}`} -d ${single(d.description)}`,
      );
    }
  }
  return lines.join("\n") + "\n";
}

/** The completion script for `shell`, generated from the command tree (so it never drifts from it). */
export function completionScript(program: Command, shell: Shell): string {
  const nodes = walk(program);
  return shell === "bash" ? bash(nodes) : shell === "zsh" ? zsh(nodes) : fish(nodes);
}
