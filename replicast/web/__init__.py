"""The web pages: sign-in, the models' forms, and each prediction's page (``urls.web``)."""
