"""`kqa serve`: a local web page over the pipeline API (install with `pip install 'kqa[web]'`)."""
