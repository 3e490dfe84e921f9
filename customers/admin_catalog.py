"""Admin of the catalog (items, with filters and validation against the vocabulary), of recommendation rows (read
only), and the form that edits a customer's allergy and diet codes."""

from django import forms
from django.contrib import admin
from django.db.models import F, QuerySet
from django.http import HttpRequest

from customers import spending
from customers.catalog import items, vocabulary
from customers.models import CATALOG_ITEM_FIELDS, PROFILE_FIELDS, CatalogItem, Customer, Recommendation


def _codes_field(codes: tuple[str, ...], help_text: str) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        choices=[(code, code) for code in codes],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=help_text,
    )


class _LinesField(forms.CharField):
    """A list of strings edited one per line."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value):
        return [line.strip() for line in (value or "").splitlines() if line.strip()]


class CustomerCodesForm(forms.ModelForm):
    """Allergies and diets as checkboxes of the vocabulary's codes; notes one per line. Text typed into the notes
    that names a code ("땅콩", "vegan") is moved to the codes, so that the rules check it."""

    allergies = _codes_field(vocabulary.ALLERGENS, "No item containing one of these is ever recommended.")
    diets = _codes_field(vocabulary.DIETS, "Every food item recommended satisfies all of these.")
    dietary_notes = _LinesField(required=False, help_text="Restrictions no code covers, one per line (unverified).")
    spent_month = forms.CharField(
        required=False,
        max_length=7,
        help_text="The month (YYYY-MM, in BUDGET_TIMEZONE) the spending belongs to; a spending changed alone, or "
        "with no month, is this month's. It counts in its month only.",
    )

    class Meta:
        model = Customer
        fields = ("user", *PROFILE_FIELDS)

    def clean(self):
        cleaned = super().clean()
        parsed = vocabulary.parse(cleaned.get("dietary_notes") or [])
        cleaned["allergies"] = [
            c for c in vocabulary.ALLERGENS if c in {*cleaned.get("allergies", []), *parsed.allergies}
        ]
        cleaned["diets"] = [c for c in vocabulary.DIETS if c in {*cleaned.get("diets", []), *parsed.diets}]
        cleaned["dietary_notes"] = list(parsed.notes)
        spent_changed = "spent_this_month_minor" in self.changed_data
        if not cleaned.get("spent_month") or (spent_changed and "spent_month" not in self.changed_data):
            kept = self.instance.pk and not spent_changed
            cleaned["spent_month"] = self.instance.spent_month if kept else spending.this_month()
        if cleaned["spent_month"] > spending.this_month():
            self.add_error("spent_month", "A month that has not begun yet.")
        return cleaned


class CatalogItemForm(forms.ModelForm):
    allergens_declared = forms.BooleanField(
        required=False,
        label="Allergens declared",
        help_text="Checked, or any allergen ticked below: declared (with none ticked: free of every listed "
        "allergen). Otherwise unknown: a food item is then never recommended to a customer with any allergy.",
    )
    allergens = _codes_field(vocabulary.ALLERGENS, "What the item contains (when declared).")
    diets = _codes_field(vocabulary.DIETS, "What the item satisfies (when it is food).")
    tags = _LinesField(required=False, help_text="One tag per line, e.g. spicy, 매운맛, jazz.")

    class Meta:
        model = CatalogItem
        fields = ("external_id", *CATALOG_ITEM_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["allergens_declared"].initial = self.instance.pk is not None and self.instance.allergens is not None

    def clean(self):
        """The same checks as `catalog_import` runs on a row of a file."""
        cleaned = super().clean()
        declared = bool(cleaned.get("allergens_declared") or cleaned.get("allergens"))
        row = {
            "external_id": cleaned.get("external_id") or "",
            "kind": cleaned.get("kind") or "",
            "name": cleaned.get("name") or "",
            "description": cleaned.get("description") or "",
            "area": cleaned.get("area") or "",
            "currency": cleaned.get("currency") or "KRW",
            "tags": cleaned.get("tags") or [],
            "allergens": (cleaned.get("allergens") or []) if declared else None,
            "diets": cleaned.get("diets") or [],
            "food": bool(cleaned.get("food")),
            "active": bool(cleaned.get("active")),
        }
        if cleaned.get("price_minor") is not None:
            row["price"] = cleaned["price_minor"]
        if cleaned.get("venue") is not None:
            row["venue"] = cleaned["venue"].external_id
        try:
            valid = items.validate(row)
        except items.RowError as exc:
            field = {"price": "price_minor"}.get(exc.field, exc.field)
            self.add_error(field if field in self.fields else None, exc.message)
            return cleaned
        cleaned.update({name: valid[name] for name in ("tags", "allergens", "diets")})
        return cleaned


class _CodeFilter(admin.SimpleListFilter):
    field = ""
    codes: tuple[str, ...] = ()

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(code, code) for code in self.codes]

    def queryset(self, request: HttpRequest, queryset: QuerySet[CatalogItem]) -> QuerySet[CatalogItem]:
        code = self.value()
        if code not in self.codes:
            return queryset
        bits = (vocabulary.ALLERGEN_BITS if self.field == "allergen_mask" else vocabulary.DIET_BITS)[code]
        return queryset.alias(hit=F(self.field).bitand(bits)).filter(hit=bits)


class AllergenFilter(_CodeFilter):
    title = "contains allergen (declared or in its text)"
    parameter_name = "allergen"
    field = "allergen_mask"
    codes = vocabulary.ALLERGENS

    def queryset(self, request: HttpRequest, queryset: QuerySet[CatalogItem]) -> QuerySet[CatalogItem]:
        # A food item of unknown allergens has every bit set (it may contain anything): the "unknown" filter lists it.
        filtered = super().queryset(request, queryset)
        return filtered if filtered is queryset else filtered.exclude(allergens__isnull=True, food=True)


class AllergensKnownFilter(admin.SimpleListFilter):
    title = "allergens"
    parameter_name = "allergens"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("unknown", "allergens unknown"), ("declared", "declared")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[CatalogItem]) -> QuerySet[CatalogItem]:
        if self.value() in ("unknown", "declared"):
            return queryset.filter(allergens__isnull=self.value() == "unknown")
        return queryset


class DietFilter(_CodeFilter):
    title = "satisfies diet"
    parameter_name = "diet"
    field = "diet_mask"
    codes = vocabulary.DIETS


@admin.register(CatalogItem)
class CatalogItemAdmin(admin.ModelAdmin):
    form = CatalogItemForm
    list_display = (
        "name",
        "external_id",
        "kind",
        "area",
        "price_minor",
        "currency",
        "allergens_shown",
        "venue",
        "food",
        "active",
        "updated_at",
    )
    list_select_related = ("venue",)
    list_filter = ("kind", "area", AllergensKnownFilter, AllergenFilter, DietFilter, "food", "active")
    search_fields = ("name", "external_id", "keywords", "description")
    ordering = ("external_id",)
    raw_id_fields = ("venue",)
    readonly_fields = ("mentions_shown", "dishes_shown", "created_at", "updated_at")
    actions = ("deactivate", "activate")

    @admin.display(description="allergens")
    def allergens_shown(self, item: CatalogItem) -> str:
        if item.allergens is None:
            return "unknown"
        return ", ".join(item.allergens) or "declared: none"

    @admin.display(description="its text mentions")
    def mentions_shown(self, item: CatalogItem) -> str:
        undeclared = items.undeclared(item.allergens, item.mentions)
        shown = ", ".join(item.mentions) or "no allergen"
        return f"{shown} (not declared: {', '.join(undeclared)})" if undeclared else shown

    @admin.display(description="dishes")
    def dishes_shown(self, item: CatalogItem) -> str:
        dishes = item.dishes.order_by("external_id").values_list("name", "external_id", "active")
        return (
            "; ".join(f"{name} ({external_id}){'' if active else ', inactive'}" for name, external_id, active in dishes)
            or "none listed"
        )

    @admin.action(description="Deactivate (never recommended again until activated)", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[CatalogItem]) -> None:
        self.message_user(request, f"Deactivated {queryset.update(active=False)} item(s).")

    @admin.action(description="Activate", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[CatalogItem]) -> None:
        self.message_user(request, f"Activated {queryset.update(active=True)} item(s).")


@admin.register(Recommendation)
class RecommendationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "customer", "item", "rating", "rated_at")
    list_select_related = ("customer", "item")
    list_filter = ("rating", "created_at")
    search_fields = ("item__name", "item__external_id", "customer__display_name", "customer__user__username")
    ordering = ("-created_at",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Recommendation | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Recommendation | None = None) -> bool:
        return False
