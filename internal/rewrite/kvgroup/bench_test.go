package kvgroup_test

import (
	"io"
	"testing"

	"github.com/triggerflow/triggerflow/internal/rewrite/kvgroup"
)

// BenchmarkParse parses a generated plugin-input-like document of about 100 KB.
func BenchmarkParse(b *testing.B) {
	in := genDoc(100 << 10)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kvgroup.Parse(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWrite writes the same document back out.
func BenchmarkWrite(b *testing.B) {
	d, err := kvgroup.Parse(genDoc(100 << 10))
	if err != nil {
		b.Fatal(err)
	}
	out, _ := d.Marshal()
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Write(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
