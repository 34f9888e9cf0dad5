"""What each kind of file can hold: target fields, their types, and the column names that map to them.

The target fields are the columns of the tables in ``customer_value/db.py``,
plus a few helper fields that exist only for mapping (``unit_price`` and
``cost`` on transactions, from which amount and gross profit are computed).
Synonyms cover the column names real exports use, in English and in Chinese;
they are compared after :func:`normalise_header`, so ``Customer ID``,
``customer_id`` and ``CUSTOMERID`` are the same name.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

KINDS = ("transactions", "customers", "feedback", "leads")

# Field types; each has one parser in validation.py.
TEXT = "text"
IDENTIFIER = "identifier"
DATE = "date"
DECIMAL = "decimal"
INTEGER = "integer"
BOOLEAN = "boolean"


@dataclass(frozen=True)
class Field:
    """One target field of a kind of file.

    Attributes
    ----------
    name : str
        The table column (or mapping-only helper) it fills.
    type : str
        One of TEXT, IDENTIFIER, DATE, DECIMAL, INTEGER, BOOLEAN.
    required : bool
        The file cannot be loaded unless a column is mapped to it.
    synonyms : tuple of str
        Column names (any case, spaces, underscores) mapped to it automatically,
        best match first.
    label : str
        Plain-language description shown next to the mapping.
    minimum, maximum : float or None
        Allowed range of a number (e.g. CSAT 1-5).
    """

    name: str
    type: str
    required: bool = False
    synonyms: tuple[str, ...] = ()
    label: str = ""
    minimum: float | None = None
    maximum: float | None = None


FIELDS: dict[str, tuple[Field, ...]] = {
    "transactions": (
        Field("order_id", IDENTIFIER, synonyms=(
            "order_id", "invoiceno", "invoice_no", "invoice", "invoice_number", "invoice_id", "order", "order_no",
            "order_number", "ordernumber", "orderid", "receipt", "receipt_no", "document_no", "bill_no",
            "订单号", "订单编号", "单号", "发票号", "发票号码", "单据号", "单据编号", "销售单号", "订单id",
        ), label="order or invoice number; numbers starting with C are cancellations"),
        Field("line_no", INTEGER, synonyms=(
            "line_no", "line", "line_number", "lineno", "order_line", "item_no", "line_item", "seq", "行号",
            "明细行号", "序号", "项次",
        ), label="line number within the order (with the order number it identifies the line)",
            minimum=-2_147_483_648, maximum=2_147_483_647),
        Field("customer_id", IDENTIFIER, required=True, synonyms=(
            "customer_id", "customerid", "customer", "customer_no", "customer_number", "customer_code",
            "client_id", "clientid", "client", "account_id", "account", "buyer_id", "member_id",
            "客户编号", "客户id", "客户代码", "客户号", "客户", "会员编号", "会员号", "客户编码", "用户id",
        ), label="customer id; blank lines are kept as anonymous and reported"),
        Field("order_date", DATE, required=True, synonyms=(
            "order_date", "invoicedate", "invoice_date", "date", "orderdate", "transaction_date", "sale_date",
            "sales_date", "purchase_date", "created_at", "order_time", "invoice_time", "timestamp",
            "订单日期", "下单日期", "日期", "销售日期", "交易日期", "开票日期", "下单时间", "订单时间", "成交日期",
        ), label="date of the order"),
        Field("amount", DECIMAL, synonyms=(
            "amount", "revenue", "sales", "total", "line_total", "sales_amount", "net_amount", "value",
            "turnover", "total_amount", "order_amount", "金额", "销售额", "销售金额", "总金额", "订单金额",
            "收入", "营业额", "合计", "成交金额", "实收金额",
        ), label="revenue of the line; computed as quantity x unit price when there is no such column"),
        Field("quantity", DECIMAL, synonyms=(
            "quantity", "qty", "units", "count", "volume", "数量", "销量", "销售数量", "件数",
        ), label="quantity; negative quantities are returns or cancellations"),
        Field("unit_price", DECIMAL, synonyms=(
            "unit_price", "unitprice", "price", "unit_cost_price", "price_each", "单价", "价格", "销售单价", "售价",
        ), label="price per unit (only used to compute the amount)"),
        Field("gross_profit", DECIMAL, synonyms=(
            "gross_profit", "profit", "margin", "gross_margin", "毛利", "毛利润", "毛利额", "利润",
        ), label="gross profit of the line"),
        Field("cost", DECIMAL, synonyms=(
            "cost", "cogs", "cost_amount", "total_cost", "成本", "成本金额", "销售成本",
        ), label="cost of the line (gross profit = amount - cost when there is no profit column)"),
        Field("product", TEXT, synonyms=(
            "product", "stockcode", "stock_code", "sku", "product_id", "product_code", "item", "item_code",
            "article", "产品", "产品编号", "产品编码", "商品", "商品编号", "商品编码", "货号", "物料编号",
            "description", "product_name", "item_name", "产品名称", "商品名称", "品名",
        ), label="product code or name"),
        Field("channel", TEXT, synonyms=(
            "channel", "sales_channel", "source", "渠道", "销售渠道",
        ), label="sales channel"),
        Field("is_cancellation", BOOLEAN, synonyms=(
            "is_cancellation", "cancelled", "canceled", "cancellation", "is_return", "return", "returned",
            "退货", "是否退货", "取消", "是否取消", "作废",
        ), label="yes when the line is a cancellation or return"),
    ),
    "customers": (
        Field("customer_id", IDENTIFIER, required=True, synonyms=(
            "customer_id", "customerid", "customer", "customer_no", "customer_number", "customer_code",
            "client_id", "clientid", "account_id", "member_id", "客户编号", "客户id", "客户代码", "客户号",
            "客户编码", "会员编号", "会员号", "用户id",
        ), label="customer id"),
        Field("name", TEXT, synonyms=(
            "name", "customer_name", "client_name", "company", "company_name", "account_name", "客户名称",
            "客户名", "名称", "单位名称", "公司名称", "学校名称", "姓名",
        ), label="customer name"),
        Field("customer_type", TEXT, synonyms=(
            "customer_type", "type", "segment", "category", "customer_category", "client_type", "客户类型",
            "客户类别", "类型", "客户分类", "学校类型",
        ), label="customer type (e.g. university, K-12 school)"),
        Field("region", TEXT, synonyms=(
            "region", "area", "territory", "country", "province", "city", "区域", "地区", "大区", "省份",
            "城市", "国家", "片区",
        ), label="sales region"),
        Field("sales_rep", TEXT, synonyms=(
            "sales_rep", "salesrep", "rep", "account_manager", "salesperson", "sales_person", "owner",
            "销售代表", "业务员", "销售员", "客户经理", "负责人", "销售人员",
        ), label="sales rep in charge"),
        Field("acquisition_channel", TEXT, synonyms=(
            "acquisition_channel", "channel", "source", "lead_source", "获客渠道", "渠道", "来源", "客户来源",
        ), label="how the customer was won"),
        Field("signup_date", DATE, synonyms=(
            "signup_date", "since", "customer_since", "created", "created_at", "registration_date",
            "start_date", "contract_start", "注册日期", "开户日期", "签约日期", "建档日期", "入网日期",
        ), label="date the customer came"),
        Field("referred_by", IDENTIFIER, synonyms=(
            "referred_by", "referrer", "referral", "referrer_id", "推荐人", "介绍人", "推荐客户",
        ), label="id of the customer who referred them"),
        Field("churn_date", DATE, synonyms=(
            "churn_date", "end_date", "contract_end", "closed_date", "left_date", "termination_date",
            "流失日期", "离网日期", "解约日期", "销户日期", "合同结束日期",
        ), label="explicit end of the relationship"),
    ),
    "feedback": (
        Field("feedback_id", IDENTIFIER, synonyms=(
            "feedback_id", "response_id", "survey_id", "answer_id", "ticket_id", "id", "问卷编号", "反馈编号",
            "工单号", "编号",
        ), label="id of the answer (reloads are recognised by it)"),
        Field("customer_id", IDENTIFIER, required=True, synonyms=(
            "customer_id", "customerid", "customer", "customer_no", "client_id", "account_id", "客户编号",
            "客户id", "客户代码", "客户号", "客户编码",
        ), label="customer id"),
        Field("response_date", DATE, required=True, synonyms=(
            "response_date", "date", "survey_date", "answer_date", "submitted_at", "created_at",
            "complaint_date", "反馈日期", "日期", "调查日期", "填写日期", "投诉日期", "提交时间",
        ), label="date of the answer"),
        Field("survey", TEXT, synonyms=(
            "survey", "survey_type", "questionnaire", "type", "问卷", "问卷类型", "调查类型", "类型",
        ), label="survey: service, annual, ..."),
        Field("csat", INTEGER, synonyms=(
            "csat", "satisfaction", "score", "rating", "satisfaction_score", "满意度", "满意度评分", "评分",
            "满意分",
        ), label="satisfaction score 1-5", minimum=1, maximum=5),
        Field("nps", INTEGER, synonyms=(
            "nps", "recommend", "likely_to_recommend", "recommendation", "nps_score", "推荐值", "推荐意愿",
            "推荐度", "净推荐值",
        ), label="likelihood to recommend 0-10", minimum=0, maximum=10),
        Field("complaint", BOOLEAN, synonyms=(
            "complaint", "is_complaint", "complained", "投诉", "是否投诉",
        ), label="yes when the answer is a complaint"),
        Field("resolved_date", DATE, synonyms=(
            "resolved_date", "resolved", "closed_date", "resolution_date", "解决日期", "处理日期", "结案日期",
        ), label="date the complaint was resolved"),
        Field("comment", TEXT, synonyms=(
            "comment", "comments", "remark", "remarks", "text", "feedback", "verbatim", "note", "评论", "意见",
            "建议", "备注", "反馈内容", "意见建议",
        ), label="free-text comment"),
    ),
    "leads": (
        Field("lead_id", IDENTIFIER, required=True, synonyms=(
            "lead_id", "leadid", "lead", "prospect_id", "prospect", "id", "线索编号", "线索id", "潜在客户编号",
            "编号",
        ), label="id of the prospect"),
        Field("first_contact_date", DATE, synonyms=(
            "first_contact_date", "first_contact", "contact_date", "created_at", "date", "首次接触日期",
            "首次联系日期", "接触日期", "日期",
        ), label="date of first contact (blank: not contacted yet)"),
        Field("contacts", INTEGER, synonyms=(
            "contacts", "contact_count", "visits", "touches", "calls", "联系次数", "拜访次数", "接触次数",
        ), label="number of contacts or visits", minimum=0, maximum=2_147_483_647),
        Field("converted_customer_id", IDENTIFIER, synonyms=(
            "converted_customer_id", "customer_id", "customerid", "converted_to", "customer", "客户编号",
            "转化客户编号", "成交客户编号",
        ), label="customer id once the prospect bought"),
        Field("source", TEXT, synonyms=(
            "source", "lead_source", "channel", "来源", "线索来源", "渠道",
        ), label="where the lead came from"),
    ),
}


def fields_of(kind: str) -> tuple[Field, ...]:
    """The target fields of ``kind``; unknown kinds are a caller's mistake, reported plainly."""
    from customer_value.errors import UserFacingError

    if kind not in FIELDS:
        raise UserFacingError(f"unknown kind of file '{kind}'; choose one of {', '.join(KINDS)}")
    return FIELDS[kind]


def field_names(kind: str) -> list[str]:
    return [field.name for field in fields_of(kind)]


def required_fields(kind: str) -> list[str]:
    return [field.name for field in fields_of(kind) if field.required]


def field(kind: str, name: str) -> Field:
    for candidate in fields_of(kind):
        if candidate.name == name:
            return candidate
    raise KeyError(name)


_SEPARATORS = re.compile(r"[\s_\-./()\[\]:#]+")


def normalise_header(name: str) -> str:
    """A column name reduced for comparison: full-width folded, lower case, no spaces or underscores."""
    folded = unicodedata.normalize("NFKC", str(name)).strip().lower()
    return _SEPARATORS.sub("", folded)
