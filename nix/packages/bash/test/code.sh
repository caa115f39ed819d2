# Every tool the environment promises must start.
for tool in id ls grep awk sed jq yq xq; do
    if ! "$tool" --help > /dev/null 2>&1; then
        echo "$tool --help failed" >&2
        exit 7
    fi
done

source "$(dirname "$0")/foo.sh"

[[ "$(cat)" == "stdin" ]] || exit 1
[[ $# -eq 3 ]] || exit 2
[[ "$1" == "foo" ]] || exit 3
[[ "$2" == "bar" ]] || exit 4
[[ "$3" == "baz" ]] || exit 5
[[ "$(< test.txt)" == "hello world" ]] || exit 6

bar
