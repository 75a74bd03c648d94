"""The customer app: the pages a merchant's customers use on their phone.

Accounts are the platform's (one per person); what a merchant recorded about a
person stays on that merchant's membership (core.loyalty.members). The app has
two faces (`faces`): the shared app on the platform's hosts, and each merchant's
own pages, which on a brand's domain are the brand's whole app. `routes` says
which page module is served on which face.
Google and Facebook sign-in (`social`) link identities (`identities`) to accounts.
Plugins add pages with blueprints of their own under `/app/<plugin>/`, entries in
the menu (`app_menu`) and lines on the card (`card_lines`).
"""
