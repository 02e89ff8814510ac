"""Entry points of Python modules (`analyzer/python/entrypoints.py`): one test per framework."""

from __future__ import annotations

import textwrap

from race_mcp.analyzer.core.model import EntryPoint
from race_mcp.analyzer.python.entrypoints import entry_points
from race_mcp.analyzer.python.lower import lower_module


def entries(source: str, path: str = "app.py") -> dict[str, EntryPoint]:
    module = lower_module(textwrap.dedent(source), path)
    found = entry_points(module)
    assert module.entry_points == found
    return {entry.qualname: entry for entry in found}


def summary(source: str, path: str = "app.py") -> dict[str, tuple[str, str, str | None, str]]:
    return {
        name: (entry.kind, entry.runtime, entry.route, entry.framework)
        for name, entry in entries(source, path).items()
    }


def test_fastapi_routes_prefixes_include_router_and_add_api_route() -> None:
    found = summary(
        """
        from fastapi import APIRouter, FastAPI

        API = "/api"
        app = FastAPI()
        router = APIRouter(prefix="/items")
        admin = APIRouter()

        @app.post("/pay")
        async def pay(): ...

        @router.get("/{item_id}")
        def read_item(item_id: int): ...

        @router.api_route("/bulk", methods=["PUT", "PATCH"])
        async def bulk(): ...

        @admin.delete("/users/{id}")
        async def remove(id: int): ...

        @app.websocket("/ws")
        async def socket(ws): ...

        def health(): ...

        def helper(): ...

        app.include_router(router, prefix=API + "/v1")
        app.include_router(admin, prefix="/admin")
        app.add_api_route("/health", health, methods=["GET"])
        """
    )
    assert found == {
        "pay": ("http", "event-loop", "POST /pay", "fastapi"),
        "read_item": ("http", "thread-pool", "GET /api/v1/items/{item_id}", "fastapi"),
        "bulk": ("http", "event-loop", "PUT|PATCH /api/v1/items/bulk", "fastapi"),
        "remove": ("http", "event-loop", "DELETE /admin/users/{id}", "fastapi"),
        "socket": ("http", "event-loop", "WEBSOCKET /ws", "fastapi"),
        "health": ("http", "thread-pool", "GET /health", "fastapi"),
    }


def test_a_router_imported_from_another_module_takes_the_imported_framework() -> None:
    found = summary(
        """
        from fastapi import Depends
        from .routers import router

        @router.post("/orders")
        async def create_order(): ...
        """
    )
    assert found == {"create_order": ("http", "event-loop", "POST /orders", "fastapi")}


def test_starlette_routes_mounts_and_endpoints() -> None:
    found = summary(
        """
        from starlette.applications import Starlette
        from starlette.endpoints import HTTPEndpoint
        from starlette.routing import Mount, Route

        async def homepage(request): ...

        def sync_page(request): ...

        async def user(request): ...

        class Counter(HTTPEndpoint):
            async def post(self, request): ...
            def helper(self): ...

        routes = [
            Route("/", homepage),
            Route("/sync", endpoint=sync_page, methods=["POST"]),
            Mount("/users", routes=[Mount("/v2", routes=[Route("/{name}", user, methods=["PUT"])])]),
            Route("/count", Counter),
        ]
        app = Starlette(routes=routes)
        """
    )
    assert found == {
        "homepage": ("http", "event-loop", "GET /", "starlette"),
        "sync_page": ("http", "thread-pool", "POST /sync", "starlette"),
        "user": ("http", "event-loop", "PUT /users/v2/{name}", "starlette"),
        "Counter.post": ("http", "event-loop", "POST /count", "starlette"),
    }


def test_flask_views_blueprints_method_views_and_add_url_rule() -> None:
    found = summary(
        """
        from flask import Blueprint, Flask
        from flask.views import MethodView

        app = Flask(__name__)
        bp = Blueprint("shop", __name__, url_prefix="/shop")

        @app.route("/redeem", methods=["POST"])
        def redeem(): ...

        @bp.post("/buy")
        async def buy(): ...

        @bp.route("/list")
        def listing(): ...

        class Cart(MethodView):
            def post(self): ...
            def delete(self): ...
            def _total(self): ...

        def legacy(): ...

        app.add_url_rule("/legacy", view_func=legacy, methods=["PUT"])
        app.add_url_rule("/cart", view_func=Cart.as_view("cart"))
        app.register_blueprint(bp, url_prefix="/store")
        """
    )
    assert found == {
        "redeem": ("http", "thread-pool", "POST /redeem", "flask"),
        # Flask runs an async view in its own loop on a worker thread: threads still interleave.
        "buy": ("http", "thread-pool", "POST /store/buy", "flask"),
        "listing": ("http", "thread-pool", "GET /store/list", "flask"),
        "legacy": ("http", "thread-pool", "PUT /legacy", "flask"),
        "Cart.post": ("http", "thread-pool", "POST /cart", "flask"),
        "Cart.delete": ("http", "thread-pool", "DELETE /cart", "flask"),
    }


def test_flask_restx_restful_and_smorest_resources() -> None:
    found = summary(
        """
        from flask_restx import Api, Namespace, Resource
        from flask_restful import Resource as RestfulResource, Api as RestfulApi
        from flask.views import MethodView
        from flask_smorest import Blueprint

        api = Api(app)
        ns = Namespace("todos", path="/todos")
        restful = RestfulApi(app)
        blp = Blueprint("pets", __name__, url_prefix="/pets")

        @ns.route("/<int:id>")
        class Todo(Resource):
            def put(self, id): ...
            def get(self, id): ...

        class Counter(RestfulResource):
            def post(self): ...

        @blp.route("/")
        class Pets(MethodView):
            def post(self): ...

        restful.add_resource(Counter, "/counter")
        api.add_namespace(ns)
        """
    )
    assert found == {
        "Todo.put": ("http", "thread-pool", "PUT /todos/<int:id>", "flask-restx"),
        "Todo.get": ("http", "thread-pool", "GET /todos/<int:id>", "flask-restx"),
        "Counter.post": ("http", "thread-pool", "POST /counter", "flask-restful"),
        "Pets.post": ("http", "thread-pool", "POST /pets/", "flask"),
    }


def test_aiohttp_route_tables_router_calls_and_class_views() -> None:
    found = summary(
        """
        from aiohttp import web

        routes = web.RouteTableDef()
        app = web.Application()

        @routes.post("/vote")
        async def vote(request): ...

        @routes.route("PATCH", "/poll")
        async def poll(request): ...

        async def results(request): ...

        async def close(request): ...

        @routes.view("/items")
        class Items(web.View):
            async def post(self): ...

        app.router.add_get("/results", results)
        app.add_routes([web.delete("/close", close)])
        """
    )
    assert found == {
        "vote": ("http", "event-loop", "POST /vote", "aiohttp"),
        "poll": ("http", "event-loop", "PATCH /poll", "aiohttp"),
        "results": ("http", "event-loop", "GET /results", "aiohttp"),
        "close": ("http", "event-loop", "DELETE /close", "aiohttp"),
        "Items.post": ("http", "event-loop", "POST /items", "aiohttp"),
    }


def test_quart_and_sanic_apps_blueprints_and_method_views() -> None:
    found = summary(
        """
        from quart import Quart
        from sanic import Blueprint, Sanic
        from sanic.views import HTTPMethodView

        app = Quart(__name__)
        api = Sanic("api")
        bp = Blueprint("orders", url_prefix="/orders")

        @app.route("/redeem", methods=["POST"])
        async def redeem(): ...

        @app.post("/sync")
        def sync_redeem(): ...

        @api.post("/pay")
        async def pay(request): ...

        @bp.route("/<id>", methods=["DELETE"])
        async def cancel(request, id): ...

        class Cart(HTTPMethodView):
            async def put(self, request): ...
        """
    )
    assert found == {
        "redeem": ("http", "event-loop", "POST /redeem", "quart"),
        "sync_redeem": ("http", "thread-pool", "POST /sync", "quart"),
        "pay": ("http", "event-loop", "POST /pay", "sanic"),
        "cancel": ("http", "event-loop", "DELETE /orders/<id>", "sanic"),
        "Cart.put": ("http", "event-loop", None, "sanic"),
    }


def test_litestar_handlers_and_controllers_and_tornado_handlers() -> None:
    found = summary(
        """
        from litestar import Controller, get, post, route
        from tornado.web import RequestHandler

        @post("/orders")
        async def create_order(data: dict) -> dict: ...

        @route("/orders/{id:int}", http_method=["PUT", "PATCH"])
        def replace_order(id: int) -> None: ...

        class Accounts(Controller):
            path = "/accounts"

            @get()
            async def listing(self) -> list: ...

            @post("/{id:int}/debit")
            async def debit(self, id: int) -> None: ...

        class Vote(RequestHandler):
            async def post(self): ...
            def get(self): ...
        """
    )
    assert found == {
        "create_order": ("http", "event-loop", "POST /orders", "litestar"),
        "replace_order": ("http", "sequential", "PUT|PATCH /orders/{id:int}", "litestar"),
        "Accounts.listing": ("http", "event-loop", "GET /accounts", "litestar"),
        "Accounts.debit": ("http", "event-loop", "POST /accounts/{id:int}/debit", "litestar"),
        "Vote.post": ("http", "event-loop", None, "tornado"),
        "Vote.get": ("http", "sequential", None, "tornado"),
    }


def test_django_function_and_class_based_views_and_urlpatterns() -> None:
    found = summary(
        """
        from django.contrib.auth.decorators import login_required
        from django.urls import path
        from django.views import View
        from django.views.decorators.http import require_POST, require_http_methods
        from django.views.generic import CreateView

        @require_POST
        def redeem(request, code): ...

        @require_http_methods(["PUT", "PATCH"])
        def edit(request): ...

        @login_required
        async def profile(request): ...

        def index(request): ...

        def _helper(order): ...

        class Checkout(View):
            def post(self, request): ...
            def total(self): ...

        class NewOrder(CreateView):
            def form_valid(self, form): ...

        class Base(View):
            pass

        class Child(Base):
            def delete(self, request): ...

        urlpatterns = [
            path("index/", index),
            path("checkout/", Checkout.as_view()),
        ]
        """,
        path="shop/views.py",
    )
    assert found == {
        "redeem": ("http", "processes", None, "django"),
        "edit": ("http", "processes", None, "django"),
        "profile": ("http", "event-loop", None, "django"),
        "index": ("http", "processes", "ANY /index/", "django"),
        "Checkout.post": ("http", "processes", "POST /checkout/", "django"),
        "NewOrder.form_valid": ("http", "processes", None, "django"),
        "Child.delete": ("http", "processes", None, "django"),
    }


def test_a_request_function_outside_a_views_module_needs_a_decorator() -> None:
    source = """
        from django.http import JsonResponse

        def index(request): ...
        """
    assert summary(source, path="shop/utils.py") == {}
    assert set(summary(source, path="shop/views/orders.py")) == {"index"}


def test_drf_api_views_viewsets_actions_and_routers() -> None:
    found = summary(
        """
        from rest_framework import generics, serializers, viewsets
        from rest_framework.decorators import action, api_view
        from rest_framework.routers import DefaultRouter
        from rest_framework.views import APIView

        @api_view(["POST"])
        def transfer(request): ...

        class Balance(APIView):
            def post(self, request): ...

        class Orders(viewsets.ModelViewSet):
            def perform_create(self, serializer): ...
            def destroy(self, request, pk=None): ...

            @action(detail=True, methods=["post"])
            def cancel(self, request, pk=None): ...

            @action(detail=False)
            def recent(self, request): ...

            def _owned(self): ...

        class Create(generics.CreateAPIView):
            def perform_create(self, serializer): ...

        class OrderSerializer(serializers.ModelSerializer):
            def create(self, validated_data): ...

        router = DefaultRouter()
        router.register(r"orders", Orders)
        """,
        path="api.py",
    )
    assert found == {
        "transfer": ("http", "processes", None, "drf"),
        "Balance.post": ("http", "processes", None, "drf"),
        "Orders.perform_create": ("http", "processes", "POST /orders/", "drf"),
        "Orders.destroy": ("http", "processes", "DELETE /orders/", "drf"),
        "Orders.cancel": ("http", "processes", "POST /orders/", "drf"),
        "Orders.recent": ("http", "processes", "GET /orders/", "drf"),
        "Create.perform_create": ("http", "processes", None, "drf"),
    }


def test_celery_rq_dramatiq_and_huey_tasks() -> None:
    found = summary(
        """
        import dramatiq
        from celery import Celery, Task, shared_task
        from django_rq import job
        from huey import RedisHuey
        from proj.celery import app as proj_app

        app = Celery("proj")
        huey = RedisHuey()

        @shared_task(bind=True)
        def charge(self, order_id): ...

        @shared_task
        def refund(order_id): ...

        @app.task
        def ship(order_id): ...

        @proj_app.task(queue="mail")
        def mail(order_id): ...

        @job("default")
        def export(): ...

        @dramatiq.actor(max_retries=3)
        def notify(user_id): ...

        @dramatiq.actor
        def ping(): ...

        @huey.task()
        def resize(image): ...

        class Invoice(Task):
            def run(self, invoice_id): ...

        @other.task
        def not_a_task(): ...
        """,
        path="tasks.py",
    )
    assert found == {
        "charge": ("task", "processes", None, "celery"),
        "refund": ("task", "processes", None, "celery"),
        "ship": ("task", "processes", None, "celery"),
        "mail": ("task", "processes", None, "celery"),
        "export": ("task", "processes", None, "rq"),
        "notify": ("task", "thread-pool", None, "dramatiq"),
        "ping": ("task", "thread-pool", None, "dramatiq"),
        "resize": ("task", "thread-pool", None, "huey"),
        "Invoice.run": ("task", "processes", None, "celery"),
    }


def test_django_signal_receivers_and_management_commands() -> None:
    found = summary(
        """
        from django.core.management.base import BaseCommand
        from django.db.models.signals import post_save, pre_delete
        from django.dispatch import receiver

        @receiver(post_save, sender=Order)
        def on_order(sender, instance, created, **kwargs): ...

        def on_delete(sender, instance, **kwargs): ...

        pre_delete.connect(on_delete, sender=Order)

        class Command(BaseCommand):
            def handle(self, *args, **options): ...
            def add_arguments(self, parser): ...
        """,
        path="signals.py",
    )
    assert found == {
        "on_order": ("signal", "processes", None, "django"),
        "on_delete": ("signal", "processes", None, "django"),
        "Command.handle": ("command", "sequential", None, "django"),
    }


def test_graphql_mutations_graphene_strawberry_ariadne() -> None:
    found = summary(
        """
        import graphene
        import strawberry
        from ariadne import MutationType

        mutation = MutationType()

        class Transfer(graphene.Mutation):
            class Arguments:
                amount = graphene.Int()

            def mutate(root, info, amount): ...

        @strawberry.type
        class Mutation:
            @strawberry.mutation
            async def add_book(self, title: str) -> str: ...

            @strawberry.field
            def books(self) -> list[str]: ...

        @mutation.field("vote")
        def resolve_vote(_, info, poll_id): ...
        """,
        path="schema.py",
    )
    assert found == {
        "Transfer.mutate": ("graphql", "processes", None, "graphene"),
        "Mutation.add_book": ("graphql", "event-loop", None, "strawberry"),
        "resolve_vote": ("graphql", "processes", None, "ariadne"),
    }


def test_a_module_without_frameworks_has_no_entry_points() -> None:
    assert summary("def f(request): ...\nclass View: \n    def post(self): ...\n") == {}
