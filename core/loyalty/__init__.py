"""The loyalty wing: members and customers, the ledger, purchases, rewards, the program
and its expiry, figures, activity, invitations, locations and staff."""
