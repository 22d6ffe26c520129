package wfi

import (
	"errors"
	"strconv"
	"strings"
)

// ErrMissing is wrapped by the error for a placeholder that resolves to
// nothing (a *MissingError). The operation cannot succeed: it fails
// permanently, it is never sent with a hole in its payload.
var ErrMissing = errors.New("missing placeholder")

// ErrTemplate is wrapped by every error Parse and Render return, missing
// placeholders included: a template error is permanent, retrying cannot help.
var ErrTemplate = errors.New("template error")

// ErrCycle is wrapped by the error for custom placeholders that refer to
// each other in a cycle.
var ErrCycle = errors.New("custom placeholder cycle")

// MissingError is a placeholder that resolves to nothing. Its message names
// the template and the placeholder:
//
//	template "snow-create.json": placeholder #ITSM Change# is not defined (not a predefined placeholder, ticket field or custom placeholder)
type MissingError struct {
	Template string // the template being rendered (the outermost one)
	Name     string // the placeholder, without its '#'
	// Via lists the custom placeholders whose templates led to Name,
	// outermost first; empty when the template uses Name directly.
	Via []string
	// Reason says why Name resolves to nothing; empty means the default
	// "not a predefined placeholder, ticket field or custom placeholder".
	Reason string
}

const defaultMissingReason = "not a predefined placeholder, ticket field or custom placeholder"

func (e *MissingError) Error() string {
	var b strings.Builder
	b.WriteString("template ")
	b.WriteString(strconv.Quote(e.Template))
	b.WriteString(": placeholder #")
	b.WriteString(e.Name)
	b.WriteString("# ")
	for i, v := range e.Via {
		if i == 0 {
			b.WriteString("(used by custom placeholder #")
		} else {
			b.WriteString(" in #")
		}
		b.WriteString(v)
		b.WriteString("#")
	}
	if len(e.Via) > 0 {
		b.WriteString(") ")
	}
	b.WriteString("is not defined (")
	if e.Reason == "" {
		b.WriteString(defaultMissingReason)
	} else {
		b.WriteString(e.Reason)
	}
	b.WriteString(")")
	return b.String()
}

// Is reports whether target is ErrMissing or ErrTemplate.
func (e *MissingError) Is(target error) bool { return target == ErrMissing || target == ErrTemplate }

// templateError is every other Parse or Render error: a message that names
// the template, and the error behind it.
type templateError struct {
	msg  string
	errs []error // ErrTemplate, then ErrCycle or the text/template error, if any
}

func (e *templateError) Error() string   { return e.msg }
func (e *templateError) Unwrap() []error { return e.errs }

func newTemplateError(msg string, cause error) *templateError {
	errs := []error{ErrTemplate}
	if cause != nil {
		errs = append(errs, cause)
	}
	return &templateError{msg: msg, errs: errs}
}
