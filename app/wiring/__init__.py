"""Parts of the composition root (``app.main``) that wire one optional feature each.

``app.main.Threadline`` builds the app and owns its lifespan; a feature that is configured
or not, and touches several of its steps, is wired here so ``app.main`` reads as the order
of those steps::

    dashboard   mounted on the web app when it is built; its surface registered at start
    jobs        the job service opened at start, with the routes runners report to; its
                upkeep task, its turns and its tools

Only ``app.main`` imports these modules; they import whatever they wire.
"""
