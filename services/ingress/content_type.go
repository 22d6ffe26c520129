package ingress

import (
	"fmt"
	"mime"
	"net/http"
	"strings"
)

// bodyKind is the media type an endpoint reads.
type bodyKind int

const (
	jsonBody     bodyKind = iota // the mediator's JSON (/trigger_file)
	xmlBody                      // the raw ticket_info XML (/v1/triggers/{EVENT})
	callbackBody                 // an ITSM's JSON callback (servers.<name>.inbound)
)

// checkContentType refuses (415) a body declared as something the endpoint does not read.
//
// The mediator endpoint reads application/json and any application/…+json; the raw
// endpoint application/xml, text/xml and any application/…+xml. The seed mediator sends
// `-H "Content-Type: application/json"`, the bash-only mediator
// `-H "Content-Type: application/xml"`. A request without a Content-Type is read as the
// endpoint's kind, as clients written before this check may send none. A charset other
// than UTF-8 is refused too: the body is read as UTF-8. Everything else (text/plain,
// application/x-www-form-urlencoded, multipart/form-data, JSON on the XML endpoint and XML
// on the JSON endpoint, an unparsable header) is a 415 naming the type and the one wanted;
// more than one Content-Type header is a 400.
func checkContentType(r *http.Request, want bodyKind) *InputError {
	cts := r.Header.Values("Content-Type")
	if len(cts) > 1 {
		return badInput("the request has %d Content-Type headers: send one", len(cts))
	}
	if len(cts) == 0 || cts[0] == "" {
		return nil
	}
	ct := cts[0]
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return unsupported(want, "Content-Type %s is not a media type (%v)", quoteShort(ct), err)
	}
	if !isKind(mt, want) {
		return unsupported(want, "Content-Type %s is not %s", quoteShort(mt), kindName(want))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
		return unsupported(want, "Content-Type %s declares charset %s; the body must be UTF-8", quoteShort(mt), quoteShort(cs))
	}
	return nil
}

func isKind(mt string, k bodyKind) bool {
	switch k {
	case jsonBody, callbackBody:
		return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
	default:
		return mt == "application/xml" || mt == "text/xml" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+xml")
	}
}

func kindName(k bodyKind) string {
	if k != xmlBody {
		return "JSON"
	}
	return "XML"
}

// unsupported is a 415 that ends with what the endpoint reads.
func unsupported(k bodyKind, format string, args ...any) *InputError {
	want := "send the mediator's JSON as Content-Type: application/json"
	switch k {
	case xmlBody:
		want = "send the ticket_info XML as Content-Type: application/xml"
	case callbackBody:
		want = "send the callback as Content-Type: application/json"
	}
	return &InputError{Status: http.StatusUnsupportedMediaType, Msg: fmt.Sprintf(format, args...) + ": " + want}
}
