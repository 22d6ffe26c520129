package securechangetest

import (
	"strings"
	"testing"
)

func TestEditSettingsNeedsEachLineExactlyOnce(t *testing.T) {
	t.Parallel()
	full := "#! /bin/bash\nHOST=h\nENDPOINT=e\nUSERNAME=u\nPASSWORD=p\nEXEC_SCRIPT=x\n"
	s := MediatorSettings{Host: "H", Endpoint: "E", Username: "U", Password: "P", ExecScript: "X"}
	tests := []struct {
		name, script, wantErr string
	}{
		{"missing HOST", strings.Replace(full, "HOST=h\n", "", 1), `HOST: want exactly one line starting with "HOST=", found 0`},
		{"indented HOST is not the line", strings.Replace(full, "HOST=h", "  HOST=h", 1), `HOST: want exactly one line`},
		{"duplicate PASSWORD", full + "PASSWORD=again\n", `PASSWORD: want exactly one line starting with "PASSWORD=", found 2`},
		{"missing all", "#! /bin/bash\n", "EXEC_SCRIPT: want exactly one line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := editSettings(tt.script, s)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("editSettings error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	got, err := editSettings(full, s)
	if err != nil {
		t.Fatal(err)
	}
	if want := "#! /bin/bash\nHOST=H\nENDPOINT=E\nUSERNAME=U\nPASSWORD=P\nEXEC_SCRIPT=X\n"; got != want {
		t.Fatalf("editSettings = %q, want %q", got, want)
	}
}

func TestShellWord(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"10.244.0.1:8000", "10.244.0.1:8000"},
		{"https://triggerflow.example:8000", "https://triggerflow.example:8000"},
		{"/opt/trigger-service/test.py", "/opt/trigger-service/test.py"},
		{"", ""},
		{"pa ss", "'pa ss'"},
		{"it's", `'it'\''s'`},
		{`$HOME "x" \ ~`, `'$HOME "x" \ ~'`},
	}
	for _, tt := range tests {
		if got := shellWord(tt.in); got != tt.want {
			t.Errorf("shellWord(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
