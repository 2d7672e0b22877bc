"""One module per logical unit of the graph; __main__.py composes them."""
