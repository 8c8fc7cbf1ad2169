"""vendre-feeds: ad-catalog feeds, tracking snippets and a feed server for Vendre webshops."""
