#! /bin/bash
ARGS=($@)
TICKET_INFO=$(cat | base64 -w0)
# User hardcoded arguments
HOST=10.244.0.1:8000
ENDPOINT=trigger_file
USERNAME=username
PASSWORD=password
EXEC_SCRIPT=/opt/trigger-service/test.py
#all additional arguments taken from SC
EXEC_ARGS=${ARGS[@]:1}
# define the payload to send to your webserver
PAYLOAD="{ \
\"ticket_info\":\"${TICKET_INFO}\",
\"event\":\"${SCW_EVENT}\",
\"args\":\"${EXEC_ARGS}\",
\"script\":\"${EXEC_SCRIPT}\"
}"
RESP=$(curl -sS --fail -X POST -u "${USERNAME}:${PASSWORD}" "${HOST}/${ENDPOINT}" \
-H "Content-Type: application/json" \
-d "${PAYLOAD}" 2>&1)
HTTP_EXT_CODE=$?
[ $HTTP_EXT_CODE -ne 0 ] && \
echo $RESP > /dev/stderr && exit $HTTP_EXT_CODE
export RESP
# parse the response json in python, the schema may differ from
# server to server implementation
python -c "
import os, sys, json
p = json.loads(os.getenv('RESP') or {})
output = p.get('output', '')
error = p.get('error', None)
stderr = error.get('output', '') if error else ''
ext_code = error.get('returnCode', 0) if error else 0
sys.stdout.write(output)
if ext_code != 0:
    sys.stderr.write(stderr)
    sys.exit(ext_code)
"
