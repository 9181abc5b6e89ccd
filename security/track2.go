package security

// Track 2 layout (ISO/IEC 7813) as carried in field 35 and in the chip's track 2 equivalent data:
//
//	PAN (up to 19 digits) | separator '=' (or 'D') | expiry YYMM | service code (3) | discretionary data
//
// cardswitch's card layout puts the CVV (magnetic stripe) or iCVV (chip) in the FIRST THREE digits
// of the discretionary data, followed by filler digits. The PVKI and PVV are not written on the
// track: the switch keeps the PVV in its card record, so it need not travel. BuildTrack2 and
// BuildChipTrack2 write this layout; docs/security.md describes it.
const (
	track2MaxLen   = 37 // ISO/IEC 7813 track 2: at most 37 characters between the sentinels
	track2CVVLen   = 3
	track2Filler   = "00000" // discretionary data after the CVV written by the builders
	track2Expiry   = 4
	track2SvcCode  = 3
	track2MinAfter = track2Expiry + track2SvcCode + track2CVVLen
)

// track2 is the parsed field 35. Its strings alias the input.
type track2 struct {
	pan, expiry, serviceCode, cvv string
}

// parseTrack2 splits a track 2. Start and end sentinels (';' '?') and a trailing hex 'F' pad
// nibble are tolerated; everything else must be digits.
func parseTrack2(s string) (track2, bool) {
	if len(s) > 0 && s[0] == ';' {
		s = s[1:]
	}
	if n := len(s); n > 0 && s[n-1] == '?' {
		s = s[:n-1]
	}
	if n := len(s); n > 0 && (s[n-1] == 'F' || s[n-1] == 'f') {
		s = s[:n-1]
	}
	if len(s) == 0 || len(s) > track2MaxLen {
		return track2{}, false
	}
	sep := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '=' || c == 'D' || c == 'd' {
			if sep >= 0 {
				return track2{}, false
			}
			sep = i
			continue
		}
		if c < '0' || c > '9' {
			return track2{}, false
		}
	}
	if sep < 12 || sep > 19 || len(s)-sep-1 < track2MinAfter {
		return track2{}, false
	}
	rest := s[sep+1:]
	return track2{
		pan:         s[:sep],
		expiry:      rest[:track2Expiry],
		serviceCode: rest[track2Expiry : track2Expiry+track2SvcCode],
		cvv:         rest[track2Expiry+track2SvcCode : track2MinAfter],
	}, true
}
