#!/bin/sh
# A stand-in for virsh in the linux backend's tests. Configured by the directory in
# FAKE_VIRSH_STATE:
#
#   calls/N.argv        every call's arguments, NUL-terminated; N.lc_all the caller's LC_ALL;
#                       N.file-I the content of the XML file given as argument I (after -c URI)
#   responses/KEY/      a scripted answer (stdout, stderr, code files) for the command KEY:
#                       the arguments after `-c URI` joined by spaces with file paths written
#                       as FILE, or the command name alone
#
# Any other call goes to the real virsh on libvirt's test driver. Each `virsh -c
# test:///default` process starts a fresh in-memory host, so to keep state across calls the
# fake replays every earlier state-changing command that succeeded, in the same invocation
# (`cmd1; cmd2; echo MARK; current`), and prints what follows MARK.
#
# Shell builtins only where it can: starting a process is what makes these tests slow.

set -u
state=$FAKE_VIRSH_STATE

# Claim the next call number by creating its file (noclobber makes that atomic).
set -C
n=1000
until true 2>/dev/null > "$state/calls/$n.argv"; do n=$((n + 1)); done
set +C
call="$state/calls/$n"
for arg in "$@"; do printf '%s\0' "$arg"; done >> "$call.argv"
printf '%s' "${LC_ALL-}" > "$call.lc_all"
[ "${1-}" = "-c" ] && shift 2

is_file() { case $1 in /*) [ -f "$1" ] ;; *) false ;; esac; }
emit() {
  line=
  while IFS= read -r line; do printf '%s\n' "$line"; done < "$1"
  printf '%s' "$line"
}

key=""
i=0
for arg in "$@"; do
  if is_file "$arg"; then cp "$arg" "$call.file-$i"; arg=FILE; fi
  key="${key:+$key }$arg"
  i=$((i + 1))
done
for candidate in "$key" "$1"; do
  answer="$state/responses/$candidate"
  if [ -d "$answer" ]; then
    emit "$answer/stdout"
    emit "$answer/stderr" >&2
    read -r code < "$answer/code"
    exit "$code"
  fi
done

command=""
i=0
for arg in "$@"; do
  # The backend deletes its XML files after each call; the replay needs them later.
  if is_file "$arg"; then arg="$call.file-$i"; fi
  case $arg in *\'*|*\"*|*\\*) echo "fake virsh cannot quote $arg" >&2; exit 2 ;; esac
  command="${command:+$command }'$arg'"
  i=$((i + 1))
done
history=
[ -f "$state/history" ] && IFS= read -r history < "$state/history"
virsh -c test:///default "${history}echo FAKE_VIRSH_MARK; $command" > "$call.stdout" 2> "$call.stderr"
status=$?
printing=
while IFS= read -r line; do
  [ -n "$printing" ] && printf '%s\n' "$line"
  [ "$line" = FAKE_VIRSH_MARK ] && printing=1
done < "$call.stdout"
emit "$call.stderr" >&2
case $1 in
  domstate | dumpxml | vol-info | vol-list | list) ;;
  *) [ $status -eq 0 ] && printf '%s' "$history$command; " > "$state/history" ;;
esac
exit $status
