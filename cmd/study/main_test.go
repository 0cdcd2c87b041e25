package main

import (
	"bytes"
	"strings"
	"testing"
)

// Bad flags are refused before any data is loaded, each named with what it
// wants.
func TestBadFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-unseen", "0"}, "-unseen 0: want 1..100 chips"},
		{[]string{"-unseen-first", "3"}, "-unseen-first 3: want unseen chips 3..12 disjoint from the chips trained on, 1..4"},
		{[]string{"-multi-chips", "1"}, "-multi-chips 1"},
		{[]string{"-sweep", "0,1,1"}, "-sweep 1: want each scale once"},
		{[]string{"-sweep", "0,x"}, `invalid value "0,x" for flag -sweep`},
		{[]string{"-sweep", ""}, "-sweep []: want 1..16 scales"},
		{[]string{"-va-epochs", "0"}, "-va-epochs 0"},
		{[]string{"-batch", "0"}, "-batch 0"},
		{[]string{"-dataset", "yinyang"}, "-dataset yinyang: want mnist or fashion-mnist"},
		{[]string{"-parallel", "0"}, "-parallel 0"},
		{[]string{"-wait-between-events", "0"}, "wait_between_events = 0"},
		{[]string{"extra"}, "unexpected arguments"},
	}
	for _, tc := range cases {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", tc.args, code, errb.String())
		}
		if !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, errb.String(), tc.want)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"-h"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "-unseen") {
		t.Errorf("-h: exit %d, %q", code, errb.String())
	}
}

func TestScalesFlag(t *testing.T) {
	var s scales
	if err := s.Set(" 0, 0.5,4 "); err != nil || len(s) != 3 || s[1] != 0.5 || s.String() != "0,0.5,4" {
		t.Fatalf("%v %v %q", s, err, s.String())
	}
	if err := s.Set(""); err != nil || len(s) != 0 {
		t.Fatalf("empty: %v %v", s, err)
	}
}
