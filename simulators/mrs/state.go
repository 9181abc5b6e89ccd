package mrs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// The simulator's accounts survive a restart when Config.StatePath is set, as a real rewards
// host's would: after every change the whole state is written to a new file and renamed over
// the old one (the host holds few accounts; no PAN is in it, only SHA-256 keys).

type snapshot struct {
	Seq        int               `json:"seq"`
	Customers  []snapCustomer    `json:"customers"`
	Accounts   []snapAccount     `json:"accounts"`
	Households []snapHousehold   `json:"households"`
	ByPAN      map[string]string `json:"byPan"` // PAN key -> RANAC
}

type snapCustomer struct{ ID, Number, First, Last, Email string }

type snapAccount struct {
	ID, RANAC, CustomerID, Number, ProgramID, Status, Last4, Household string
	Points                                                             int64
}

type snapHousehold struct {
	ID, ProgramID string
	Roles         map[string]string
}

// save writes the state (under s.mu); a failure is reported to the caller of the operation as
// the host's internal error.
func (s *Sim) save() error {
	if s.cfg.StatePath == "" {
		return nil
	}
	snap := snapshot{Seq: s.seq, ByPAN: map[string]string{}}
	for _, c := range s.customers {
		snap.Customers = append(snap.Customers, snapCustomer{c.id, c.number, c.first, c.last, c.email})
	}
	for _, a := range s.accounts {
		snap.Accounts = append(snap.Accounts, snapAccount{a.id, a.ranac, a.customerID, a.number, a.programID, a.status, a.last4, a.household, a.points})
	}
	for _, h := range s.households {
		snap.Households = append(snap.Households, snapHousehold{h.id, h.programID, h.roles})
	}
	for k, a := range s.byPAN {
		snap.ByPAN[k] = a.ranac
	}
	raw, err := json.Marshal(snap)
	if err != nil {
		return fmt.Errorf("mrs: state: %w", err)
	}
	tmp := s.cfg.StatePath + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return fmt.Errorf("mrs: state: %w", err)
	}
	return os.Rename(tmp, s.cfg.StatePath)
}

// load reads the state written by save, if any.
func (s *Sim) load() error {
	if s.cfg.StatePath == "" {
		return nil
	}
	raw, err := os.ReadFile(s.cfg.StatePath)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(filepath.Dir(s.cfg.StatePath), 0o700)
	}
	if err != nil {
		return fmt.Errorf("mrs: state: %w", err)
	}
	var snap snapshot
	if err := json.Unmarshal(raw, &snap); err != nil {
		return fmt.Errorf("mrs: state %s: %w", filepath.Base(s.cfg.StatePath), err)
	}
	s.seq = snap.Seq
	for _, c := range snap.Customers {
		s.customers[c.Number] = &customer{c.ID, c.Number, c.First, c.Last, c.Email}
	}
	for _, a := range snap.Accounts {
		acc := &account{a.ID, a.RANAC, a.CustomerID, a.Number, a.ProgramID, a.Status, a.Last4, a.Household, a.Points}
		s.accounts[acc.ranac], s.byID[acc.id] = acc, acc
	}
	for _, h := range snap.Households {
		s.households[h.ID] = &household{id: h.ID, programID: h.ProgramID, roles: h.Roles}
	}
	for k, ranac := range snap.ByPAN {
		if a, ok := s.accounts[ranac]; ok {
			s.byPAN[k] = a
		}
	}
	return nil
}
