package token

import (
	"fmt"
	"os"
	"strings"
)

// Env is the environment variable that holds the token when no file is
// given.
const Env = "ANALOGLOOP_CHIP_TOKEN"

// Load returns the token in file, or, when file is "", the value of Env;
// "" when neither is set. Surrounding white space (a file's final newline)
// is dropped. A token must be printable ASCII without spaces, since it
// travels in an HTTP/2 header.
func Load(file string) (string, error) {
	var t, from string
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("token file: %w", err)
		}
		t, from = strings.TrimSpace(string(b)), file
		if t == "" {
			return "", fmt.Errorf("token file %s is empty", file)
		}
	} else {
		t, from = strings.TrimSpace(os.Getenv(Env)), "$"+Env
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c > '~' {
			return "", fmt.Errorf("token from %s: byte %d is %q: want printable ASCII without spaces", from, i, c)
		}
	}
	return t, nil
}
