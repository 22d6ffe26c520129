package securechange

// FieldShape is how a SecureChange field type holds its value.
type FieldShape int

const (
	// ShapeRaw: a structured value (lists of objects) that this project does
	// not model; it is read only as Field.Raw and never written.
	ShapeRaw FieldShape = iota
	// ShapeString: a JSON string under the type's ValueKey.
	ShapeString
	// ShapeBool: true or false (or "true"/"false") under ValueKey.
	ShapeBool
	// ShapeSelection: one option's value, a string under ValueKey
	// ("selection"), the choices under "options.option[].value".
	ShapeSelection
	// ShapeMultiSelection: "selected_options.selected_option[].value", the
	// choices under "options.option[].value".
	ShapeMultiSelection
	// ShapeApproval: "approved" (a boolean) and "reason" (a string).
	ShapeApproval
)

// FieldType is one row of FieldTypes: a SecureChange field type (the
// field's "@xsi.type") and where its value is read from and written to.
type FieldType struct {
	Name  string
	Shape FieldShape
	// ValueKey is the member holding the value, read and written; "" for
	// ShapeRaw, whose value is the whole object.
	ValueKey string
	// Writable: the client can write the type (UpdateFields).
	Writable bool
}

// ReadOnlyKey is the member that marks a field read-only ("true" or true).
// pytos reads it for every field type (rest.py, Step_Field_Base subclasses:
// get_xml_text_value(xml_node, Elements.READ_ONLY)) and drops such fields
// before a write (rest.py, Step_Task.remove_read_only_fields).
const ReadOnlyKey = "read_only"

// FieldTypes is the one table of SecureChange field types, from Tufin's SDK
// pytos (github.com/Tufin/pytos, file pytos/securechange/xml_objects/rest.py;
// the type names are its Attributes.FIELD_TYPE_* constants and the value keys
// its classes' from_xml_node / FIELD_CONTENT_ATTRIBUTES). The decoder
// (DecodeTicket) and the writer (UpdateFields) read it; the simulator
// (securechangetest) checks writes on its own.
var FieldTypes = map[string]FieldType{
	// rest.py class Step_Field_Text: Elements.TEXT.
	"text_field": {Name: "text_field", Shape: ShapeString, ValueKey: "text", Writable: true},
	// rest.py class Step_Field_Text_Area: Elements.TEXT.
	"text_area": {Name: "text_area", Shape: ShapeString, ValueKey: "text", Writable: true},
	// rest.py class Step_Field_Manager: Elements.TEXT.
	"manager": {Name: "manager", Shape: ShapeString, ValueKey: "text", Writable: true},
	// rest.py class Step_Field_Date: Elements.VALUE, "%Y-%m-%d"
	// (FIELD_CONTENT_ATTRIBUTES = "value").
	"date": {Name: "date", Shape: ShapeString, ValueKey: "value", Writable: true},
	// rest.py class Step_Field_Time: Elements.VALUE, "%H:%M".
	"time": {Name: "time", Shape: ShapeString, ValueKey: "value", Writable: true},
	// rest.py class Step_Field_Hyperlink: Elements.URL
	// (FIELD_CONTENT_ATTRIBUTES = "url").
	"hyperlink": {Name: "hyperlink", Shape: ShapeString, ValueKey: "url", Writable: true},
	// rest.py class Step_Field_Checkbox: Elements.VALUE, "true"/"false".
	"checkbox": {Name: "checkbox", Shape: ShapeBool, ValueKey: "value", Writable: true},
	// rest.py class Step_Field_Drop_Down_List: "selection", options.
	"drop_down_list": {Name: "drop_down_list", Shape: ShapeSelection, ValueKey: "selection", Writable: true},
	// rest.py class Step_Field_Multiple_Selection: selected_options, options.
	"multiple_selection": {Name: "multiple_selection", Shape: ShapeMultiSelection, ValueKey: "selected_options", Writable: true},
	// rest.py class Step_Field_Approve_Reject: approved, reason.
	"approve_reject": {Name: "approve_reject", Shape: ShapeApproval, ValueKey: "approved", Writable: true},
	// rest.py class Step_Field_Multi_Text: text_field[] of {id, text}.
	"multi_text_field": {Name: "multi_text_field", Shape: ShapeRaw},
	// rest.py class Step_Field_Multi_Text_Area: text_area[] of {id, text}.
	"multi_text_area": {Name: "multi_text_area", Shape: ShapeRaw},
	// rest.py class Step_Field_Multi_Hyperlink: hyperlink[] of {id, url}.
	"multi_hyperlink": {Name: "multi_hyperlink", Shape: ShapeRaw},
	// rest.py class Step_Field_Multi_Access_Request: access_request[].
	"multi_access_request": {Name: "multi_access_request", Shape: ShapeRaw},
	// rest.py class Step_Field_Server_Decommission
	// (FIELD_TYPE_MULTI_SERVER_DECOMMISSION_REQUEST): server_decommission_request[].
	"multi_server_decommission_request": {Name: "multi_server_decommission_request", Shape: ShapeRaw},
	// rest.py class Step_Field_Multi_Group_Change: implementation_status, group_change[].
	"multi_group_change": {Name: "multi_group_change", Shape: ShapeRaw},
	// rest.py class Step_Field_Multi_Network_Object: network_object[].
	"multi_network_object": {Name: "multi_network_object", Shape: ShapeRaw},
	// rest.py class Step_Field_Multi_Service: service[].
	"multi_service": {Name: "multi_service", Shape: ShapeRaw},
	// rest.py class Step_Field_Multi_Target: target[].
	"multi_target": {Name: "multi_target", Shape: ShapeRaw},
	// rest.py class Step_Field_Rule_Decommission: devices, action.
	"rule_decommission": {Name: "rule_decommission", Shape: ShapeRaw},
}

// LookupFieldType returns the row of FieldTypes for typ; ok is false for a
// type SecureChange's SDKs do not model, which is read as ShapeRaw.
func LookupFieldType(typ string) (FieldType, bool) {
	ft, ok := FieldTypes[typ]
	if !ok {
		return FieldType{Name: typ, Shape: ShapeRaw}, false
	}
	return ft, true
}
