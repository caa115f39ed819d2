#!/usr/bin/env bash
# $1 is the main file (an escript body), the rest are further files.
set -e
main=$1
shift

# Every file is available next to the program; other Erlang sources become modules.
cp -- "$main" "$@" /program/
for file in "$@"; do
    if [[ $file == *.erl ]]; then
        erlc -o /program ./"$file"
    fi
done

# escript always skips the first line of a script (meant for `#!`), so give the
# main file one unless it brings its own.
offset=0
if [[ $(head -c 2 ./"$main") != "#!" ]]; then
    { echo "#!/usr/bin/env escript"; cat ./"$main"; } > /program/"$main"
    offset=1
fi

# Report syntax and semantic errors of the main file now rather than at run time,
# with the line numbers of the file as it was sent.
status=0
report=$(ERL_FLAGS="-pa /program" escript -s /program/"$main" 2>&1) || status=$?
[[ -z $report ]] || while IFS= read -r line; do
    if [[ $line =~ ^(/program/[^:]+):([0-9]+):(.*)$ ]]; then
        line="${BASH_REMATCH[1]}:$((BASH_REMATCH[2] - offset)):${BASH_REMATCH[3]}"
    elif [[ $line =~ ^%([[:space:]]*)([0-9]+)\|(.*)$ ]]; then
        line="%${BASH_REMATCH[1]}$((BASH_REMATCH[2] - offset))|${BASH_REMATCH[3]}"
    fi
    printf '%s\n' "$line"
done <<< "$report" >&2
exit "$status"
