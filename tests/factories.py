"""factory_boy factories for the domain; they go straight to the ORM (no audit rows)."""

import datetime as dt

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from access.models import Credential, System
from vendors.models import Agency, Contract, Vendor


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@agency.example")
    password = factory.django.Password("correct-horse-battery")


class AgencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agency

    name = factory.Sequence(lambda n: f"Ministry {n}")
    slug = factory.Sequence(lambda n: f"ministry-{n}")
    time_zone = "Europe/Berlin"


class VendorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vendor

    agency = factory.SubFactory(AgencyFactory)
    name = factory.Sequence(lambda n: f"Vendor {n} GmbH")
    registration_number = factory.Sequence(lambda n: f"HRB-{n:05d}")


class ContractFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contract

    vendor = factory.SubFactory(VendorFactory)
    reference = factory.Sequence(lambda n: f"C-{n:05d}")
    start_date = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=365))
    end_date = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=90))
    access_ends_at = factory.LazyAttribute(
        lambda o: Contract(end_date=o.end_date, grace_days=o.grace_days).compute_access_ends_at(
            o.vendor.agency
        )
    )
    grace_days = 0


class SystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = System

    agency = factory.SubFactory(AgencyFactory)
    name = factory.Sequence(lambda n: f"system-{n}")
    kind = System.Kind.MANUAL


class CredentialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Credential
        skip_postgeneration_save = True

    vendor = factory.SubFactory(VendorFactory)
    system = factory.SubFactory(SystemFactory, agency=factory.SelfAttribute("..vendor.agency"))
    kind = Credential.Kind.DATABASE_ROLE
    external_id = factory.Sequence(lambda n: f"vendor_role_{n}")

    @factory.post_generation
    def contracts(self, create, extracted, **kwargs):
        if create:
            self.contracts.set(extracted or [ContractFactory(vendor=self.vendor)])
