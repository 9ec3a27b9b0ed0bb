"""The Analytics tab: controls, presenters, rendering and views, one module each.

``controls`` reads the query string into the tab's state; ``presenters`` turn
the service's JSON shapes into template contexts (pure functions);
``rendering`` turns those into HTML fragments; ``views`` are the routes (the
page and one fragment per panel), on the same access pipeline and service
as the JSON API. The gallery renders through the same presenters and
rendering, from mock usage read by the real service.
"""
