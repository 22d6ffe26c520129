/*
 * ServiceNow → triggerflow callbacks (ITSM-led change, examples/servicenow.yaml).
 * Three pieces to paste into ServiceNow (global scope), README.md says where:
 *
 *   1. Script Include  TriggerflowCallback          builds, signs and posts a callback
 *   2. Business Rule   triggerflow: change decision  change_request, after update
 *   3. Business Rule   triggerflow: request raised   sc_req_item, after insert
 *
 * Each callback is a JSON object (see approved.json, rejected.json, implemented.json,
 * request_raised.json next to this file) POSTed to the system property
 * x_triggerflow.endpoint with
 *   X-Triggerflow-Timestamp: <Unix seconds>
 *   X-Triggerflow-Signature: base64(HMAC-SHA256(secret, timestamp + "." + body))
 * where secret is the system property x_triggerflow.callback_secret, the value of
 * SNOW_CALLBACK_SECRET on triggerflow's side. triggerflow answers 202 once the callback
 * is stored; event_id ("<sys_id>:<sys_mod_count>") makes a re-sent callback count once.
 */

/* ---------------------------------------------------------------------------------
 * 1. Script Include
 *    Name: TriggerflowCallback   Accessible from: This application scope only
 *    Client callable: off
 * ------------------------------------------------------------------------------ */
var TriggerflowCallback = Class.create();
TriggerflowCallback.prototype = {
    initialize: function () {},

    /* send posts payload (an object) to triggerflow, signed; false when it was not accepted. */
    send: function (payload) {
        var endpoint = gs.getProperty('x_triggerflow.endpoint');
        var secret = gs.getProperty('x_triggerflow.callback_secret');
        if (!endpoint || !secret) {
            gs.error('triggerflow: set the system properties x_triggerflow.endpoint and x_triggerflow.callback_secret');
            return false;
        }
        // Only ASCII on the wire: non-ASCII characters as \uXXXX escapes, so the bytes
        // that are signed are exactly the bytes that are sent, whatever the charset.
        var body = JSON.stringify(payload).replace(/[\u007f-\uffff]/g, function (c) {
            return '\\u' + ('0000' + c.charCodeAt(0).toString(16)).slice(-4);
        });
        var timestamp = String(Math.floor(new GlideDateTime().getNumericValue() / 1000));
        // generateMac wants the key base64-encoded and returns the MAC in base64.
        // (In a scoped application: gs.base64Encode(secret).)
        var signature = new GlideCertificateEncryption().generateMac(
            GlideStringUtil.base64Encode(secret), 'HmacSHA256', timestamp + '.' + body);

        var request = new sn_ws.RESTMessageV2();
        request.setEndpoint(endpoint);
        request.setHttpMethod('post');
        request.setRequestHeader('Content-Type', 'application/json');
        request.setRequestHeader('Accept', 'application/json');
        request.setRequestHeader('X-Triggerflow-Timestamp', timestamp);
        request.setRequestHeader('X-Triggerflow-Signature', signature);
        request.setRequestBody(body);
        request.setHttpTimeout(10000);
        var mid = gs.getProperty('x_triggerflow.mid_server');
        if (mid) {
            request.setMIDServer(mid); // triggerflow inside the corporate network
        }
        // executeAsync: the request goes out through the ECC queue. Waiting for its answer
        // (at most 10 s; the user's save waits with it) is only for the log line below:
        // remove these lines to not wait, and read System Logs > Outbound HTTP Requests.
        var response = request.executeAsync();
        response.waitForResponse(10);
        var status = response.getStatusCode();
        if (response.haveError() || status < 200 || status > 299) {
            // 400: not a JSON object, or a bad ticket id; 401: signature, timestamp (clock
            // skew over the window) or secret; 413: body too large; 415: content type.
            gs.error('triggerflow: callback ' + payload.event_id + ' (' + payload.table + ' ' + payload.number +
                ') was not accepted: HTTP ' + status + ' ' + response.getErrorMessage() + ' ' + response.getBody());
            return false;
        }
        return true;
    },

    /* value is a field's value, null when it is empty (triggerflow reads null as absent). */
    value: function (gr, field) {
        var v = gr.getValue(field);
        return v === null || v === '' ? null : String(v);
    },

    /* lastJournal is the text of a journal field's latest entry, without its header line
     * ("2024-05-15 22:30:00 - Li Chen (Additional comments)"); "" when there is none. */
    lastJournal: function (element) {
        var entry = String(element.getJournalEntry(1) || '');
        return entry.replace(/^[^\n]*\n/, '').replace(/\s+$/, '');
    },

    /* user is a reference to sys_user as {user_name, name}, null when empty. */
    user: function (element) {
        if (element.nil()) {
            return null;
        }
        return {user_name: String(element.user_name), name: element.getDisplayValue()};
    },

    /* lastDecision is the latest approval or rejection of record: who and why. */
    lastDecision: function (record) {
        var gr = new GlideRecord('sysapproval_approver');
        gr.addQuery('sysapproval', record.getUniqueValue());
        gr.addQuery('state', 'IN', 'approved,rejected');
        gr.orderByDesc('sys_updated_on');
        gr.setLimit(1);
        gr.query();
        if (!gr.next()) {
            return {approver: null, comments: null};
        }
        return {approver: this.user(gr.approver), comments: this.lastJournal(gr.comments)};
    },

    /* common is what every callback carries. changed lists the watched fields that this
     * update changed (empty on an insert). */
    common: function (current, watched) {
        var changed = [];
        for (var i = 0; i < watched.length; i++) {
            if (current.operation() == 'update' && current[watched[i]].changes()) {
                changed.push(watched[i]);
            }
        }
        return {
            event_id: current.getUniqueValue() + ':' + current.getValue('sys_mod_count'),
            table: current.getTableName(),
            operation: String(current.operation()),
            changed: changed,
            sys_id: current.getUniqueValue(),
            number: this.value(current, 'number'),
            short_description: this.value(current, 'short_description'),
            u_securechange_ticket: this.value(current, 'u_securechange_ticket')
        };
    },

    type: 'TriggerflowCallback'
};

/* ---------------------------------------------------------------------------------
 * 2. Business Rule "triggerflow: change decision"
 *    Table: Change Request [change_request]   Advanced: on
 *    When: after   Order: 1000   Insert: off   Update: on
 *    Filter conditions: Approval changes  OR  State changes
 *                       AND SecureChange ticket [u_securechange_ticket] is not empty
 *    Condition (advanced):
 *      gs.getUserName() != gs.getProperty('x_triggerflow.integration_user', 'triggerflow.integration')
 *    (triggerflow's own updates of the change are not sent back to it.)
 * ------------------------------------------------------------------------------ */
(function executeRule(current, previous /*null when async*/) {
    var cb = new TriggerflowCallback();
    var payload = cb.common(current, ['approval', 'state', 'close_code', 'close_notes']);
    var decision = cb.lastDecision(current);
    payload.approval = cb.value(current, 'approval');
    payload.state = cb.value(current, 'state');
    payload.state_label = current.getDisplayValue('state');
    payload.close_code = cb.value(current, 'close_code');
    payload.close_notes = cb.value(current, 'close_notes');
    payload.comments = cb.lastJournal(current.comments);
    payload.approver = decision.approver;
    payload.approval_comments = decision.comments;
    payload.sys_updated_on = cb.value(current, 'sys_updated_on');
    payload.sys_updated_by = cb.value(current, 'sys_updated_by');
    cb.send(payload);
})(current, previous);

/* ---------------------------------------------------------------------------------
 * 3. Business Rule "triggerflow: request raised"
 *    Table: Requested Item [sc_req_item]   Advanced: on
 *    When: after   Order: 1000   Insert: on   Update: off
 *    Filter conditions: Item [cat_item] is "Firewall access request"
 *    The catalogue item's variables: source, destination, service (lists, one per line
 *    or separated by commas: IPs, CIDRs, ranges a-b, Any; services "tcp 443", "udp 53",
 *    any, or a SecureChange predefined service) and business_justification.
 *    triggerflow writes the new ticket's id into u_securechange_ticket (an update: not
 *    sent back, this rule runs on insert only).
 * ------------------------------------------------------------------------------ */
(function executeRule(current, previous /*null when async*/) {
    var cb = new TriggerflowCallback();
    var payload = cb.common(current, []);
    payload.request = current.request.getDisplayValue();
    payload.cat_item = current.cat_item.getDisplayValue();
    payload.priority = cb.value(current, 'priority');
    payload.priority_label = current.getDisplayValue('priority');
    var who = cb.user(current.requested_for);
    if (who) {
        who.email = String(current.requested_for.email);
    }
    payload.requested_for = who;
    payload.variables = {
        source: String(current.variables.source),
        destination: String(current.variables.destination),
        service: String(current.variables.service),
        business_justification: String(current.variables.business_justification)
    };
    payload.sys_updated_on = cb.value(current, 'sys_updated_on');
    payload.sys_updated_by = cb.value(current, 'sys_updated_by');
    cb.send(payload);
})(current, previous);
