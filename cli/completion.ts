import type { CommandSpec } from './command.ts';
import { GLOBAL_OPTIONS, optionSpec, type OptionName } from './options.ts';

// Completion scripts generated from the command table, so a new command or option completes
// without anyone editing a script. Install: `passthru completion bash > /etc/bash_completion.d/passthru`,
// or `source <(passthru completion zsh)` in ~/.zshrc.

export const SHELLS = ['bash', 'zsh'] as const;
export type Shell = (typeof SHELLS)[number];

const optionsOf = (command: CommandSpec): OptionName[] => [...command.options, ...GLOBAL_OPTIONS];
const choicesOf = (command: CommandSpec, name: OptionName): readonly string[] | undefined => command.choices?.[name] ?? optionSpec(name).choices;

function bash(commands: CommandSpec[]): string {
  const cases = commands.map((command) => {
    const valueCases = optionsOf(command)
      .filter((name) => optionSpec(name).value !== undefined || choicesOf(command, name))
      .map((name) => {
        const choices = choicesOf(command, name);
        return `        --${name}) ${choices ? `COMPREPLY=( $(compgen -W "${choices.join(' ')}" -- "$cur") ); ` : ''}return ;;`;
      });
    const words = [...optionsOf(command).map((name) => `--${name}`), ...(command.words ?? [])].join(' ');
    return [`    ${command.name})`, '      case "$prev" in', ...valueCases, '      esac', `      COMPREPLY=( $(compgen -W "${words}" -- "$cur") ) ;;`].join('\n');
  });
  return `# bash completion for passthru (passthru completion bash)
_passthru() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${commands.map((c) => c.name).join(' ')} --help" -- "$cur") )
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases.join('\n')}
  esac
}
complete -F _passthru passthru
`;
}

/** Text inside a single-quoted zsh _arguments spec: its brackets and colons are syntax. */
const zshText = (text: string) => text.replace(/'/g, "'\\''").replace(/([[\]:\\])/g, '\\$1');

function zsh(commands: CommandSpec[]): string {
  const described = commands.map((c) => `    '${zshText(c.name)}:${zshText(c.summary)}'`).join('\n');
  const cases = commands.map((command) => {
    const specs = optionsOf(command).map((name) => {
      const spec = optionSpec(name);
      const choices = choicesOf(command, name);
      const value = spec.value ? `:${zshText(spec.value)}:${choices ? `(${choices.join(' ')})` : ''}` : '';
      return `'${spec.multiple ? '*' : ''}--${name}[${zshText(spec.help)}]${value}'`;
    });
    const positional = command.words ? [`'*:${command.name}:(${command.words.join(' ')})'`] : [];
    return `    ${command.name}) _arguments ${[...specs, ...positional].join(' ')} ;;`;
  });
  return `#compdef passthru
# zsh completion for passthru (passthru completion zsh)
_passthru() {
  local -a commands
  commands=(
${described}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  shift words
  (( CURRENT-- ))
  case $words[1] in
${cases.join('\n')}
  esac
}
compdef _passthru passthru
`;
}

export function completionScript(shell: Shell, commands: CommandSpec[]): string {
  return shell === 'bash' ? bash(commands) : zsh(commands);
}
