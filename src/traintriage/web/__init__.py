"""The web app (traintriage serve): pages, JSON API, accounts. Imported only by `serve`."""
