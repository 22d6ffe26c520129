#!/bin/bash
#
# triggerflow-mediator.sh: forward one SecureChange script trigger to triggerflow.
#
# SecureChange runs this script for every selected workflow trigger: the ticket XML on stdin,
# the trigger name in SCW_EVENT, the arguments configured under Settings > SecureChange API on
# the command line, and up to five attempts while the exit code is non-zero. The script POSTs
# the XML unchanged to
#
#     ${TRIGGERFLOW_URL}/v1/triggers/${SCW_EVENT}?arg=<arg>&arg=<arg>...
#
# with HTTP basic auth, and needs nothing but bash and curl. See README.md next to this file.
#
# Exit codes: 0 stored; N the server's error.returnCode (a 2xx answer that refuses the
# trigger); 22 HTTP status >= 300; curl's own code on a network error or timeout;
# 1 an unexpected answer; 78 a setting below is wrong.
set -u

# ---- Settings: edit the value after ":-", or set the variable in the environment. ----------
# Base URL of the triggerflow ingress: scheme, host and port.
TRIGGERFLOW_URL="${TRIGGERFLOW_URL:-https://triggerflow.example:8000}"
# HTTP basic auth user.
TRIGGERFLOW_USER="${TRIGGERFLOW_USER:-}"
# HTTP basic auth password. TRIGGERFLOW_PASSWORD_FILE, when set, wins: the file's first line is
# the password (use it for passwords with characters that are awkward in shell quoting).
TRIGGERFLOW_PASSWORD="${TRIGGERFLOW_PASSWORD:-}"
TRIGGERFLOW_PASSWORD_FILE="${TRIGGERFLOW_PASSWORD_FILE:-}"
# Optional PEM file with the CA that signed the ingress certificate (curl --cacert).
TRIGGERFLOW_CACERT="${TRIGGERFLOW_CACERT:-}"
# Seconds allowed for the whole request (curl --max-time).
TRIGGERFLOW_TIMEOUT="${TRIGGERFLOW_TIMEOUT:-30}"
# How many leading script arguments are NOT sent. 1 matches Tufin's sample mediator, which
# drops its first argument (EXEC_ARGS=${ARGS[@]:1}), so a SecureChange script configuration
# written for that mediator sends the same args here. Set 0 to send every argument.
TRIGGERFLOW_SKIP_ARGS="${TRIGGERFLOW_SKIP_ARGS:-1}"
# ---- End of settings. -----------------------------------------------------------------------

PROG=${0##*/}

# Byte-wise string handling: URL encoding and JSON parsing below work on bytes, so UTF-8 passes
# through unchanged whatever locale SecureChange runs us in.
export LC_ALL=C

fail_config() {
	printf '%s: %s\n' "$PROG" "$1" >&2
	exit 78
}

# urlencode STRING: percent-encode every byte except RFC 3986 unreserved ones; result in REPLY.
urlencode() {
	local s=$1 out="" c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[A-Za-z0-9._~-]) out+=$c ;;
		*)
			printf -v c '%%%02X' "'$c"
			out+=$c
			;;
		esac
	done
	REPLY=$out
}

# configquote STRING: STRING as a double-quoted curl config value; result in REPLY.
configquote() {
	local s=$1 bs='\' q='"'
	s=${s//"$bs"/"$bs$bs"}
	s=${s//"$q"/"$bs$q"}
	REPLY="\"$s\""
}

# ---- A small JSON reader: just enough to pick the fields of the ingress answer. -------------
# json_parse TEXT sets JSON_OUTPUT, JSON_ERROR (error as a plain string), JSON_ERROR_OUTPUT,
# JSON_ERROR_CODE and JSON_MESSAGE; it fails unless TEXT is one JSON object.
J=""
P=0
JS=""
RE_PLAIN='^[^"\\]*'
RE_LITERAL='^(-?[0-9][0-9.eE+-]*|true|false|null)'
RE_HEX4='^[0-9A-Fa-f]{4}$'

json_parse() {
	J=$1
	P=0
	JSON_OUTPUT="" JSON_ERROR="" JSON_ERROR_OUTPUT="" JSON_ERROR_CODE="" JSON_MESSAGE=""
	_json_ws
	[[ ${J:P:1} == "{" ]] || return 1
	_json_value "" 0 || return 1
	_json_ws
	((P == ${#J}))
}

_json_ws() {
	while [[ ${J:P:1} == [$' \t\r\n'] ]]; do
		((P++))
	done
}

# _json_field PATH VALUE: keep the fields the mediator needs.
_json_field() {
	case $1 in
	output) JSON_OUTPUT=$2 ;;
	error) JSON_ERROR=$2 ;;
	error.output) JSON_ERROR_OUTPUT=$2 ;;
	error.returnCode) JSON_ERROR_CODE=$2 ;;
	message | detail | error.message) JSON_MESSAGE=$2 ;;
	esac
}

# _json_utf8 CODEPOINT: append the UTF-8 bytes of CODEPOINT to JS.
_json_utf8() {
	local cp=$1 fmt
	if ((cp == 0)); then
		return 0 # a shell string cannot hold NUL
	elif ((cp < 0x80)); then
		printf -v fmt '\\x%02x' "$cp"
	elif ((cp < 0x800)); then
		printf -v fmt '\\x%02x\\x%02x' $((0xC0 | cp >> 6)) $((0x80 | (cp & 0x3F)))
	elif ((cp < 0x10000)); then
		printf -v fmt '\\x%02x\\x%02x\\x%02x' $((0xE0 | cp >> 12)) \
			$((0x80 | (cp >> 6 & 0x3F))) $((0x80 | (cp & 0x3F)))
	else
		printf -v fmt '\\x%02x\\x%02x\\x%02x\\x%02x' $((0xF0 | cp >> 18)) \
			$((0x80 | (cp >> 12 & 0x3F))) $((0x80 | (cp >> 6 & 0x3F))) $((0x80 | (cp & 0x3F)))
	fi
	# shellcheck disable=SC2059 # fmt holds only the \xHH escapes built above
	printf -v fmt "$fmt"
	JS+=$fmt
}

# _json_string: read the string that starts at P into JS.
_json_string() {
	local rest c hex lo cp
	JS=""
	((P++))
	while :; do
		rest=${J:P}
		[[ $rest =~ $RE_PLAIN ]]
		JS+=${BASH_REMATCH[0]}
		((P += ${#BASH_REMATCH[0]}))
		c=${J:P:1}
		case $c in
		'"')
			((P++))
			return 0
			;;
		'\')
			c=${J:P+1:1}
			((P += 2))
			case $c in
			'"' | '\' | '/') JS+=$c ;;
			b) JS+=$'\b' ;;
			f) JS+=$'\f' ;;
			n) JS+=$'\n' ;;
			r) JS+=$'\r' ;;
			t) JS+=$'\t' ;;
			u)
				hex=${J:P:4}
				[[ $hex =~ $RE_HEX4 ]] || return 1
				cp=$((16#$hex))
				((P += 4))
				if ((cp >= 0xD800 && cp < 0xDC00)) && [[ ${J:P:2} == '\u' ]]; then
					lo=${J:P+2:4}
					if [[ $lo =~ $RE_HEX4 ]] && ((16#$lo >= 0xDC00 && 16#$lo < 0xE000)); then
						cp=$((0x10000 + ((cp - 0xD800) << 10) + (16#$lo - 0xDC00)))
						((P += 6))
					fi
				fi
				_json_utf8 "$cp"
				;;
			*) return 1 ;;
			esac
			;;
		*) return 1 ;; # end of text inside a string
		esac
	done
}

# _json_value PATH DEPTH: read the value at P; report scalars with _json_field.
_json_value() {
	local path=$1 depth=$2 c key rest
	((depth > 32)) && return 1
	_json_ws
	c=${J:P:1}
	case $c in
	'{')
		((P++))
		_json_ws
		if [[ ${J:P:1} == "}" ]]; then
			((P++))
			return 0
		fi
		while :; do
			_json_ws
			[[ ${J:P:1} == '"' ]] || return 1
			_json_string || return 1
			key=$JS
			_json_ws
			[[ ${J:P:1} == ":" ]] || return 1
			((P++))
			_json_value "${path:+$path.}$key" $((depth + 1)) || return 1
			_json_ws
			c=${J:P:1}
			((P++))
			case $c in
			,) ;;
			'}') return 0 ;;
			*) return 1 ;;
			esac
		done
		;;
	'[')
		((P++))
		_json_ws
		if [[ ${J:P:1} == "]" ]]; then
			((P++))
			return 0
		fi
		while :; do
			_json_value "$path[]" $((depth + 1)) || return 1
			_json_ws
			c=${J:P:1}
			((P++))
			case $c in
			,) ;;
			']') return 0 ;;
			*) return 1 ;;
			esac
		done
		;;
	'"')
		_json_string || return 1
		_json_field "$path" "$JS"
		;;
	*)
		rest=${J:P}
		[[ $rest =~ $RE_LITERAL ]] || return 1
		((P += ${#BASH_REMATCH[0]}))
		[[ ${BASH_REMATCH[0]} == null ]] || _json_field "$path" "${BASH_REMATCH[0]}"
		;;
	esac
}

# ---- Check the settings. ---------------------------------------------------------------------
[[ $TRIGGERFLOW_URL =~ ^https?://[^/?#]+ ]] ||
	fail_config "TRIGGERFLOW_URL must start with http:// or https://, got \"$TRIGGERFLOW_URL\""
[[ -n $TRIGGERFLOW_USER ]] || fail_config "TRIGGERFLOW_USER is not set"
[[ $TRIGGERFLOW_USER != *[:$'\n\r']* ]] ||
	fail_config "TRIGGERFLOW_USER must not contain a colon or a line break"
password=$TRIGGERFLOW_PASSWORD
if [[ -n $TRIGGERFLOW_PASSWORD_FILE ]]; then
	[[ -f $TRIGGERFLOW_PASSWORD_FILE && -r $TRIGGERFLOW_PASSWORD_FILE ]] ||
		fail_config "TRIGGERFLOW_PASSWORD_FILE \"$TRIGGERFLOW_PASSWORD_FILE\" cannot be read"
	password=""
	IFS= read -r password <"$TRIGGERFLOW_PASSWORD_FILE" || true # true: no final newline
	password=${password%$'\r'}
fi
[[ -n $password ]] || fail_config "no password: set TRIGGERFLOW_PASSWORD or TRIGGERFLOW_PASSWORD_FILE"
[[ $password != *[$'\n\r']* ]] || fail_config "the password must not contain a line break"
[[ $TRIGGERFLOW_TIMEOUT =~ ^[0-9]+([.][0-9]+)?$ ]] ||
	fail_config "TRIGGERFLOW_TIMEOUT must be a number of seconds, got \"$TRIGGERFLOW_TIMEOUT\""
[[ $TRIGGERFLOW_SKIP_ARGS =~ ^[0-9]+$ ]] ||
	fail_config "TRIGGERFLOW_SKIP_ARGS must be a whole number, got \"$TRIGGERFLOW_SKIP_ARGS\""
if [[ -n $TRIGGERFLOW_CACERT && ! -r $TRIGGERFLOW_CACERT ]]; then
	fail_config "TRIGGERFLOW_CACERT \"$TRIGGERFLOW_CACERT\" cannot be read"
fi

# ---- Build the request. ----------------------------------------------------------------------
# SecureChange's Test button runs the script with SCW_EVENT=TEST and no ticket; a run by hand
# without SCW_EVENT is sent as TEST too, which the ingress answers without storing anything.
urlencode "${SCW_EVENT:-TEST}"
endpoint="${TRIGGERFLOW_URL%/}/v1/triggers/$REPLY"
url=$endpoint
sep="?"
for arg in "${@:TRIGGERFLOW_SKIP_ARGS+1}"; do
	urlencode "$arg"
	url+="${sep}arg=$REPLY"
	sep="&"
done

# The credentials go to curl in a config file (mode 0600 in a private temp directory), never on
# its command line, where any user of the pod could read them with ps.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/triggerflow-mediator.XXXXXX") ||
	fail_config "cannot create a temporary directory"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP
configquote "$TRIGGERFLOW_USER:$password"
(umask 077 && printf 'user = %s\n' "$REPLY" >"$tmp/curl.config") ||
	fail_config "cannot write $tmp/curl.config"
unset password REPLY

# --fail-with-body (curl >= 7.76) keeps the error body, so the ingress's reason reaches the
# SecureChange admin; older curls get --fail and only the status.
fail_flag=--fail
if curl --help all 2>/dev/null | grep -q -e '--fail-with-body'; then
	fail_flag=--fail-with-body
fi
curl_args=(
	-sS "$fail_flag"
	--max-time "$TRIGGERFLOW_TIMEOUT"
	--config "$tmp/curl.config"
	--user-agent "triggerflow-mediator/1"
	-H "Content-Type: application/xml"
	-H "Expect:"
	--data-binary @-
	--write-out '\n%{http_code}'
	--url "$url"
)
if [[ -n $TRIGGERFLOW_CACERT ]]; then
	curl_args+=(--cacert "$TRIGGERFLOW_CACERT")
fi

# ---- Send: the ticket XML goes from our stdin straight to curl, byte for byte. ---------------
response=$(curl "${curl_args[@]}" 2>"$tmp/curl.err")
rc=$?
status=${response##*$'\n'}
body=${response%$'\n'*}
[[ $status =~ ^[0-9]{3}$ ]] || status=000

if [[ $status == 000 ]] || ((rc != 0 && rc != 22)); then
	err=$(<"$tmp/curl.err")
	printf '%s: POST %s failed: %s\n' "$PROG" "$endpoint" "${err:-curl exited with $rc}" >&2
	((rc != 0)) && exit "$rc"
	exit 1
fi

if [[ $status != 2?? ]]; then
	reason=""
	if json_parse "$body"; then
		reason=${JSON_ERROR_OUTPUT:-${JSON_ERROR:-$JSON_MESSAGE}}
	fi
	if [[ -z $reason ]]; then
		reason=${body:0:2000}
	fi
	if [[ -z $reason && $fail_flag == --fail ]]; then
		reason="(curl older than 7.76 does not show the response body)"
	fi
	printf '%s: POST %s: HTTP %s: %s\n' "$PROG" "$endpoint" "$status" "${reason:-(empty body)}" >&2
	exit 22
fi

if ! json_parse "$body"; then
	printf '%s: POST %s: HTTP %s with an unexpected body (want a JSON object): %s\n' \
		"$PROG" "$endpoint" "$status" "${body:0:2000}" >&2
	exit 1
fi
printf '%s' "$JSON_OUTPUT"
if [[ -n $JSON_ERROR ]]; then
	printf '%s\n' "$JSON_ERROR" >&2
	exit 1
fi
code=$JSON_ERROR_CODE
case $code in
"" | 0 | false | null) exit 0 ;;
esac
printf '%s' "$JSON_ERROR_OUTPUT" >&2
if [[ $code =~ ^-?[0-9]{1,9}$ ]]; then
	code=$(((code % 256 + 256) % 256))
	# returnCode 256 would exit 0 and read as success; make it a failure.
	((code == 0)) && code=1
	exit "$code"
fi
exit 1
