package mrs

import "github.com/cardswitch/cardswitch/loyalty/mrswire"

// The demonstration catalog every programme shows (getRewardCatalog, getRewardItems), with the
// item attributes of seed §6.5.
var catalogCategories = []mrswire.Category{
	{CategoryID: "GIFTCARDS", Description: "Gift cards"},
	{CategoryID: "TRAVEL", Description: "Travel"},
	{CategoryID: "CHARITY", Description: "Charity"},
}

var catalogItems = []mrswire.Item{
	{RewardMatrixItemID: "RMI-1001", CategoryID: "GIFTCARDS", RewardItemShortDescription: "Book shop gift card 10 EUR",
		RewardItemLongDescription: "An e-mailed gift card worth 10 EUR at the partner book shop.",
		ImageURL:                  "/loyalty/assets/reward-giftcard.svg", RewardMatrixItemPointValue: 100, ShippingAddressSw: "N",
		RedeemableItemSw: "Y", PhysicalAddressRequiredSw: "N", SingleQuantityRedemptionSw: "N", EmailAddressRequiredSw: "Y",
		OrderInformation: "Delivered by e-mail within one day.", PersonalizationInformationSw: "N"},
	{RewardMatrixItemID: "RMI-2001", CategoryID: "TRAVEL", RewardItemShortDescription: "Airport lounge pass",
		RewardItemLongDescription: "One visit to a partner airport lounge.", ImageURL: "/loyalty/assets/reward-lounge.svg",
		RewardMatrixItemPointValue: 2500, ShippingAddressSw: "N", RedeemableItemSw: "Y", PhysicalAddressRequiredSw: "N",
		SingleQuantityRedemptionSw: "Y", EmailAddressRequiredSw: "Y", OrderInformation: "The pass is e-mailed.",
		PersonalizationInformationSw: "Y", PersonalizationInformationLength: 40, PersonalizationLabel: "Name on the pass"},
	{RewardMatrixItemID: "RMI-2002", CategoryID: "TRAVEL", RewardItemShortDescription: "Luggage tag",
		RewardItemLongDescription: "A leather luggage tag, shipped.", ImageURL: "/loyalty/assets/reward-tag.svg",
		RewardMatrixItemPointValue: 800, ShippingAddressSw: "Y", RedeemableItemSw: "Y", PhysicalAddressRequiredSw: "Y",
		SingleQuantityRedemptionSw: "N", EmailAddressRequiredSw: "N", OrderInformation: "Shipped within 10 working days.",
		PersonalizationInformationSw: "N"},
	{RewardMatrixItemID: "RMI-3001", CategoryID: "CHARITY", RewardItemShortDescription: "Donation 5 EUR",
		RewardItemLongDescription: "A donation of 5 EUR to the programme's charity partner.", ImageURL: "/loyalty/assets/reward-charity.svg",
		RewardMatrixItemPointValue: 50, ShippingAddressSw: "N", RedeemableItemSw: "Y", PhysicalAddressRequiredSw: "N",
		SingleQuantityRedemptionSw: "N", EmailAddressRequiredSw: "N", OrderInformation: "A receipt is e-mailed.",
		PersonalizationInformationSw: "N"},
	{RewardMatrixItemID: "RMI-3002", CategoryID: "CHARITY", RewardItemShortDescription: "Sold out: tree planting",
		RewardItemLongDescription: "Not redeemable at the moment.", ImageURL: "/loyalty/assets/reward-charity.svg",
		RewardMatrixItemPointValue: 300, ShippingAddressSw: "N", RedeemableItemSw: "N", PhysicalAddressRequiredSw: "N",
		SingleQuantityRedemptionSw: "Y", EmailAddressRequiredSw: "N", OrderInformation: "", PersonalizationInformationSw: "N"},
}
