"""A fake LINE Platform: the demo's LINE simulator and the tests' LINE emulator.

It knows nothing of the CRM; it only behaves like LINE.
"""

from bot.simulator.blueprint import create_line_api_blueprint, create_simulator_blueprint
from bot.simulator.emulator import ApiResponse, LineEmulator, WebhookDeliveryError
from bot.simulator.openapi import LineOpenApi, line_openapi
from bot.simulator.server import EmulatorServer

__all__ = [
    "ApiResponse",
    "EmulatorServer",
    "LineEmulator",
    "LineOpenApi",
    "WebhookDeliveryError",
    "create_line_api_blueprint",
    "create_simulator_blueprint",
    "line_openapi",
]
