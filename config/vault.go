package config

import "github.com/cardswitch/cardswitch/tokenvault"

// VaultPrograms are the programs as the token vault issues their cards: number layout, validity
// and the CVK, PVK and PVKI that card secrets derive from (keys decoded; the configuration is
// validated).
func (c *Config) VaultPrograms() []tokenvault.Program { return VaultPrograms(c.Programs) }

// VaultPrograms converts programs as the token vault takes them (for the packages that receive
// only their programs, not the whole configuration).
func VaultPrograms(programs []Program) []tokenvault.Program {
	out := make([]tokenvault.Program, 0, len(programs))
	for _, p := range programs {
		out = append(out, tokenvault.Program{Name: p.Name, BIN: p.BIN, PANLength: p.PANLength,
			ExpiryMonths: p.ExpiryMonths, CVK: Key(p.Keys.CVK), PVK: Key(p.Keys.PVK), PVKI: p.Keys.PVKI})
	}
	return out
}
