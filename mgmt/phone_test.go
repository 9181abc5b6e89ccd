package mgmt

import "testing"

// Partners send phone numbers as people write them; E.164's digit count is what is checked.
func TestPhoneNumbersAsPartnersWriteThem(t *testing.T) {
	for phone, ok := range map[string]bool{
		"+491701234567": true, "+49 170 1234567": true, "(030) 123-4567": true, "030.1234.567": true,
		"12345": false, "+1234567890123456": false, "phone": false, "+49 170 12345x": false, "": true,
	} {
		in := customerIn{FirstName: "Ada", LastName: "Lovelace", Phone: phone}
		if err := in.validate(); (err == nil) != ok {
			t.Errorf("phone %q: accepted %v, want %v", phone, err == nil, ok)
		}
	}
}
