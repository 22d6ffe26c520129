package mailer

import (
	"math/rand/v2"
	"mime"
	"strings"
	"testing"
)

// TestFoldHeader checks foldHeader's output on fixed and random values: the value
// starts on the name's line, continuation lines start with a space and are not blank,
// lines keep to 78 characters (76 with an encoded-word, 75 per encoded-word), and
// unfolding (removing the CRLFs) and decoding gives the value back exactly.
func TestFoldHeader(t *testing.T) {
	t.Parallel()
	values := []string{
		"",
		"hello",
		"[triggerflow] failed: itsm.webhook for ticket 1234",
		strings.Repeat("word ", 30),
		"  leading and trailing spaces  ",
		"double  spaces   " + strings.Repeat("abc  ", 20),
		strings.Repeat("x", 200),
		"short " + strings.Repeat("y", 90) + " tail",
		"looks like =?UTF-8?q?an_encoded-word?= but is not",
		"tab\tinside",
		"Ticket 1234 – Zugriff genehmigt ✓",
		"Änderung genehmigt: Größere Firewall-Regel für Büro Zürich – 変更リクエストが承認されました 🚀 Ticket #4711, bitte prüfen und bestätigen",
		strings.Repeat("🚀", 40),
		strings.Repeat("変", 100),
		"a_b=c?d",
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("abcdefghijklmnopqrstuvwxyz ABC 0123456789 ,.:;!?=_-()<>\"'äöüßÄÖÜ€–変更承認🚀👍🏽\t")
	for range 500 {
		n := r.IntN(300)
		var b strings.Builder
		for range n {
			b.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		values = append(values, b.String())
	}
	for _, name := range []string{"Subject", "X-Triggerflow-Operation"} {
		for _, v := range values {
			for _, encodeLong := range []bool{true, false} {
				checkFolded(t, name, v, encodeLong)
			}
		}
	}
}

func checkFolded(t *testing.T, name, value string, encodeLong bool) {
	t.Helper()
	folded := foldHeader(name, value, encodeLong)
	lines := strings.Split(name+": "+folded, "\r\n")
	encoded := strings.Contains(folded, "=?UTF-8?q?")
	if strings.TrimSpace(strings.TrimPrefix(lines[0], name+":")) == "" && strings.TrimSpace(value) != "" {
		t.Errorf("%s %q: first line %q is empty", name, value, lines[0])
	}
	for i, l := range lines {
		if i > 0 && (!strings.HasPrefix(l, " ") || strings.TrimSpace(l) == "") {
			t.Errorf("%s %q: continuation line %q", name, value, l)
		}
		switch {
		case encoded && len(l) > maxEncodedLine:
			t.Errorf("%s %q: line with encoded-words of %d characters: %q", name, value, len(l), l)
		case !encoded && len(l) > maxLine && (encodeLong || canFold(l, i == 0, name)):
			// Without encodeLong, a single word too long for a line stays whole.
			t.Errorf("%s %q (encodeLong %v): line of %d characters: %q", name, value, encodeLong, len(l), l)
		}
	}
	if encoded {
		for w := range strings.FieldsSeq(folded) {
			if len(w) > maxEncodedWord {
				t.Errorf("%s %q: encoded-word of %d characters", name, value, len(w))
			}
		}
	}
	unfolded := strings.ReplaceAll(folded, "\r\n", "")
	var dec mime.WordDecoder
	got, err := dec.DecodeHeader(unfolded)
	if err != nil || got != value {
		t.Errorf("%s %q (encodeLong %v): decodes to %q, %v\nfolded: %q", name, value, encodeLong, got, err, folded)
	}
	if !encoded && unfolded != value {
		t.Errorf("%s %q: unfolds to %q", name, value, unfolded)
	}
}

// canFold reports whether line (the first of the field when first) has a place to fold
// at: a space followed by a non-space, other than where the line starts.
func canFold(line string, first bool, name string) bool {
	if first {
		line = strings.TrimPrefix(line, name+": ")
	}
	for j := 1; j+1 < len(line); j++ {
		if line[j] == ' ' && line[j+1] != ' ' {
			return true
		}
	}
	return false
}
