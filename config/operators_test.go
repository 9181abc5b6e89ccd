package config

import (
	"strings"
	"testing"
	"time"
)

// The operators of /admin and their session lifetime load from the http section.
func TestOperatorsKeys(t *testing.T) {
	dir := t.TempDir()
	body := strings.Replace(goodYAML, "%s", dir, 1)
	body = strings.Replace(body, "  addr: 127.0.0.1:9080\n", `  addr: 127.0.0.1:9080
  operatorSessionTTL: 15m
  operators:
    - {name: olga, role: Manager, passwordHash: "$2a$12$abcdefghijklmnopqrstuu5lQf1o4mG6Yx0m0r6hQm1QyO4aU3pC2"}
    - {name: tina, role: Employee, passwordHash: "$2a$12$x", totpSecret: JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP}
`, 1)
	c, err := Load(writeConfig(t, body), Overrides{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ops := c.HTTP.Operators
	if len(ops) != 2 || ops[0].Name != "olga" || ops[0].Role != "Manager" || !strings.HasPrefix(ops[0].PasswordHash, "$2a$12$") ||
		ops[1].TOTPSecret != "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" || c.HTTP.OperatorSessionTTL != 15*time.Minute {
		t.Fatalf("operators %+v ttl %v", ops, c.HTTP.OperatorSessionTTL)
	}
}
