package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ByteSize is a number of bytes written with a unit: 10GiB, 500MB, 64Ki, 1048576.
// Binary units (KiB, MiB, GiB, TiB, or Ki…Ti as Kubernetes writes them) are powers of
// 1024, decimal ones (kB, KB, MB, GB, TB) powers of 1000; no unit (or B) is bytes.
// "unlimited" is -1. Units are case-insensitive; there is no fraction and no sign.
type ByteSize int64

var byteUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1000, "kb": 1000, "m": 1000 * 1000, "mb": 1000 * 1000,
	"g": 1000 * 1000 * 1000, "gb": 1000 * 1000 * 1000, "t": 1000 * 1000 * 1000 * 1000, "tb": 1000 * 1000 * 1000 * 1000,
	"ki": 1 << 10, "kib": 1 << 10, "mi": 1 << 20, "mib": 1 << 20,
	"gi": 1 << 30, "gib": 1 << 30, "ti": 1 << 40, "tib": 1 << 40,
}

// ParseByteSize reads a size (see ByteSize).
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	if strings.EqualFold(t, "unlimited") {
		return -1, nil
	}
	if strings.HasPrefix(t, "-") {
		return 0, errors.New("a size cannot be negative (write unlimited for no limit)")
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, errors.New("want digits and a unit, e.g. 10GiB, 500MB or 1048576")
	}
	unit, ok := byteUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q (want B, KiB, MiB, GiB, TiB, kB, MB, GB or TB)", strings.TrimSpace(t[i:]))
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil || n > math.MaxInt64/unit {
		return 0, errors.New("too large")
	}
	return ByteSize(n * unit), nil
}

// UnmarshalYAML reads a size from a scalar; a bad one is reported with its line and the
// rest of the file is still checked.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a size must be a scalar such as 10GiB", n.Line)}}
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a size: %v", n.Line, n.Value, err)}}
	}
	*b = v
	return nil
}

// String writes the size in the largest binary unit that divides it: 16GiB, 1536KiB, 100B.
func (b ByteSize) String() string {
	if b < 0 {
		return "unlimited"
	}
	for _, u := range []struct {
		name string
		n    ByteSize
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b >= u.n && b%u.n == 0 {
			return strconv.FormatInt(int64(b/u.n), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}
