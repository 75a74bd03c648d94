"""The web wing: sign-in and staff sessions, accounts and their pages, links, security,
mail, themes, languages, uploads, PDF cards, spreadsheets and the request itself."""
